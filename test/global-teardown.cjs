// Stops the storage servers test/global-setup.cjs started.
module.exports = async () => {
  await globalThis.aftTestServers?.stop();
};
