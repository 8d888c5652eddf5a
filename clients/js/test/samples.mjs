// The guide's JavaScript samples (test/guide/) and the only substitutions a reader makes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PACKAGE_DIR = path.resolve(HERE, '..');
export const SAMPLE_FILES = ['items-list-get.js', 'items-update.js', 'collections-create-list.js'];
export const KEY_PLACEHOLDER = "'gpra_your_api_key'";

/** The samples as the guide prints them, in its order (one module: they run together). */
export function guideSamples() {
  return SAMPLE_FILES.map((f) => readFileSync(path.join(HERE, 'guide', f), 'utf8')).join('');
}

/**
 * The samples with the reader's substitutions: the key string and the ids. `PROJECT_ID` is a
 * name the guide leaves to the reader, so a first line defines it.
 */
export function runnableSamples({ key, projectId, itemId, collectionId }) {
  const text = guideSamples();
  const count = (s) => text.split(s).length - 1;
  if (count(KEY_PLACEHOLDER) !== 1 || count("'c71d...'") !== 1 || count("'3a9b...'") !== 1) {
    throw new Error('the guide samples no longer have the expected placeholders');
  }
  return `const PROJECT_ID = ${JSON.stringify(projectId)};\n` + text
    .replace(KEY_PLACEHOLDER, JSON.stringify(key))
    .replace("'c71d...'", JSON.stringify(itemId))
    .replace("'3a9b...'", JSON.stringify(collectionId));
}

/** The samples for the type checker: unchanged, with PROJECT_ID declared. */
export function typecheckedSamples() {
  return 'declare const PROJECT_ID: string;\n' + guideSamples();
}
