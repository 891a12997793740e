// Finds keys that occur twice in one JSON object. JSON.parse keeps the last silently, but log stores
// such as Elasticsearch refuse the whole line, so tests look at the text itself.

/** Every duplicated key as a path (`$.component`, `$.err.code`), in order of appearance. */
export function duplicateKeys(json: string): string[] {
  const found: string[] = [];
  // One frame per open object or array; an object's frame holds its keys so far.
  const stack: Array<{ keys: Set<string> | null; expectKey: boolean; path: string; last: string }> = [];
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (top.keys.has(key)) found.push(`${top.path}.${key}`);
        top.keys.add(key);
        top.last = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const parent = stack.at(-1);
      const path = parent === undefined ? '$' : parent.keys ? `${parent.path}.${parent.last}` : `${parent.path}[]`;
      stack.push({ keys: c === '{' ? new Set() : null, expectKey: c === '{', path, last: '' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack.at(-1);
      if (top?.keys) top.expectKey = true;
    }
  }
  return found;
}
