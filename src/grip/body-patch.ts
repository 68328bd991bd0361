import fastJsonPatch from 'fast-json-patch';
import { BodyPatchError } from '../errors.js';

/** One RFC 6902 operation, as published in `body-patch` (checked by `bodyPatchProblem`). */
export type BodyPatchOperation = fastJsonPatch.Operation;

/**
 * What is wrong with a published `body-patch` list (an operation that is not RFC 6902), or
 * undefined when every operation is well formed. Whether it applies depends on the held
 * body, which only the proxy knows.
 */
export function bodyPatchProblem(operations: unknown[]): string | undefined {
  const error = fastJsonPatch.validate(operations as BodyPatchOperation[]);
  return error ? describe(error, error.index) : undefined;
}

/**
 * The held response body with the patch applied: the body must be a JSON object or array;
 * the result is serialised compactly and keeps the original's trailing newline (`\n` or
 * `\r\n`), as Pushpin does. Throws BodyPatchError naming what failed.
 */
export function applyBodyPatch(body: Buffer, operations: BodyPatchOperation[]): Buffer {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BodyPatchError('the held response body is not JSON');
  }
  if (typeof document !== 'object' || document === null) {
    throw new BodyPatchError('the held response body is not a JSON object or array');
  }
  // One operation at a time, so that an error names the operation that failed (the
  // library's own index is always 0 when applying); a failed `test` throws too.
  for (const [index, operation] of operations.entries()) {
    // fast-json-patch reads `from` as a JS property path: inherited members such as
    // `/constructor` resolve (a function, which JSON cannot write), and onto the root a
    // missing `from` leaves no document at all.
    if (
      (operation.op === 'copy' || operation.op === 'move') &&
      !hasMember(document, operation.from)
    ) {
      throw new BodyPatchError(
        `the body-patch does not apply: ${operation.op} from a path that does not exist (operation ${index})`,
      );
    }
    try {
      document = fastJsonPatch.applyOperation(document, operation, true, true).newDocument;
    } catch (error) {
      throw new BodyPatchError(`the body-patch does not apply: ${describe(error, index)}`);
    }
  }
  const ending =
    body.subarray(-2).toString('latin1') === '\r\n' ? '\r\n' : body.at(-1) === 0x0a ? '\n' : '';
  let text: string;
  try {
    text = JSON.stringify(document);
  } catch {
    // A move or copy of a value into itself leaves a cycle.
    throw new BodyPatchError('the patched body cannot be written as JSON (it contains itself)');
  }
  return Buffer.from(text + ending, 'utf8');
}

/** Whether a JSON pointer names a member the document has itself (not one it inherits). */
function hasMember(document: unknown, pointer: string): boolean {
  if (pointer === '') return true;
  let value = document;
  for (const token of pointer.slice(1).split('/')) {
    if (typeof value !== 'object' || value === null) return false;
    const key = token.replaceAll('~1', '/').replaceAll('~0', '~');
    if (!Object.hasOwn(value, key)) return false;
    value = (value as Record<string, unknown>)[key];
  }
  return true;
}

/** fast-json-patch's first line (the rest dumps the document), and which operation failed. */
function describe(error: unknown, index: number | undefined): string {
  const text = error instanceof Error ? error.message.split('\n', 1)[0]! : String(error);
  return index === undefined ? text : `${text} (operation ${index})`;
}
