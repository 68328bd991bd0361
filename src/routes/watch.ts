import fs from 'node:fs';
import path from 'node:path';

/** Editors save in bursts (write, rename, chmod): one reload per burst. */
const settleMs = 200;

/**
 * `--routes-watch`: calls `onChange` once an edit of the routes file has settled. The
 * directory is watched, not the file, because editors replace a file by renaming a new
 * one over it, which ends a watch on the old file. Returns the way to stop watching.
 */
export function watchRoutesFile(file: string, onChange: () => void): () => void {
  const dir = path.dirname(path.resolve(file));
  const name = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  const watcher = fs.watch(dir, (_event, changed) => {
    if (changed !== null && changed !== name) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, settleMs);
  });
  watcher.unref();
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
