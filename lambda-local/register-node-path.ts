/** Loaded with `node --import` in each function process: installs node-path-hooks.ts. */
import { register } from 'node:module';

register('./node-path-hooks.js', import.meta.url);
