import { ENGINES } from '../servers/engines.js';
import { registerRestApiSuite } from './rest-api-suite.js';

registerRestApiSuite(ENGINES.s3);
