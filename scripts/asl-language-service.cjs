// Validates Step Functions definitions with AWS's own ASL language service
// (npm amazon-states-language-service, the validator behind the AWS Toolkit and Workflow Studio).
// Usage: node scripts/asl-language-service.cjs FILE...  (placeholders already filled)
// Prints one line per diagnostic (errors and warnings) and exits 1 if any file has one.
'use strict';
const fs = require('fs');
const path = require('path');
const asl = require(path.join(__dirname, 'npm', 'node_modules', 'amazon-states-language-service'));

async function main(files) {
  if (files.length === 0) {
    console.error('usage: asl-language-service.cjs FILE...');
    process.exit(2);
  }
  const service = asl.getLanguageService({});
  let problems = 0;
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const doc = asl.TextDocument.create('file://' + path.resolve(file), 'json', 0, text);
    const diagnostics = await service.doValidation(doc, service.parseJSONDocument(doc));
    for (const d of diagnostics) {
      const sev = d.severity === 1 ? 'error' : d.severity === 2 ? 'warning' : 'info';
      if (sev === 'info') continue;
      problems++;
      console.log(`${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${sev}: ${d.message}`);
    }
  }
  if (problems > 0) process.exit(1);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(2);
});
