#!/usr/bin/env node
// Converts the Postman collection and environment into one Insomnia export (format 4) with
// Insomnia's own importer (insomnia-importers, pinned in package-lock.json), the code the
// Insomnia app runs when a Postman file is imported. Used by scripts/insomnia_export.py:
//   node to_insomnia.cjs COLLECTION ENVIRONMENT OUTPUT
// It fails unless the importer recognises each file as what it is, and unless the written
// export is read back by the importer as an Insomnia v4 export with the same resources.
"use strict";

const fs = require("fs");
const { convert } = require("insomnia-importers");

async function importAs(path, expectedImporter) {
  const result = await convert(fs.readFileSync(path, "utf8"));
  if (result.type.id !== expectedImporter) {
    throw new Error(`${path}: read as ${result.type.id}, expected ${expectedImporter}`);
  }
  return result.data;
}

async function main([collectionPath, environmentPath, outputPath]) {
  if (!outputPath) {
    throw new Error("usage: node to_insomnia.cjs COLLECTION ENVIRONMENT OUTPUT");
  }
  const collection = await importAs(collectionPath, "postman");
  const environment = await importAs(environmentPath, "postman-environment");
  const exported = {
    _type: collection._type,
    __export_format: collection.__export_format,
    // No __export_date: the file must be the same for the same collection, so that a check can
    // regenerate it and compare bytes. Insomnia's importer does not read the date.
    __export_source: collection.__export_source,
    resources: [...collection.resources, ...environment.resources],
  };
  const text = JSON.stringify(exported, null, 2) + "\n";
  const reread = await convert(text);
  if (reread.type.id !== "insomnia-4"
      || JSON.stringify(reread.data.resources) !== JSON.stringify(exported.resources)) {
    throw new Error(`the export does not read back as an Insomnia v4 export (read as ${reread.type.id})`);
  }
  fs.writeFileSync(outputPath, text);
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`to_insomnia: ${error.message}\n`);
  process.exit(1);
});
