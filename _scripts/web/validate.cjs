// Khronos glTF validator on one .glb/.vrm: prints its report's issue counts and messages as JSON.
// Run by _scripts/avatar_check.py with NODE_PATH pointing at the npm cache (never the repo).
const fs = require("fs");
const validator = require("gltf-validator");

const file = process.argv[2];
validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {uri: file, maxIssues: 200})
  .then((report) => {
    const messages = report.issues.messages.map((m) => ({code: m.code, severity: m.severity, pointer: m.pointer,
                                                          message: m.message}));
    console.log(JSON.stringify({errors: report.issues.numErrors, warnings: report.issues.numWarnings,
                                infos: report.issues.numInfos, messages}));
  })
  .catch((error) => { console.error(String(error)); process.exit(1); });
