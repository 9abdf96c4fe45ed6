/** Maps an id so that comparing by UTF-16 code unit orders like comparing ids by code point. */
export function idKey(id: string): string {
  let i = 0;
  while (i < id.length && id.charCodeAt(i) < 0xd800) i++;
  if (i === id.length) return id;
  const units = new Array<number>(id.length);
  for (let j = 0; j < id.length; j++) {
    const x = id.charCodeAt(j);
    // U+E000..U+FFFF sort before surrogates (code points >= U+10000): swap the two blocks.
    units[j] = x < 0xd800 ? x : x >= 0xe000 ? x - 0x800 : x + 0x2000;
  }
  let out = '';
  // In slices: a long value (an index key of a large object) would overflow the arguments of one call.
  for (let j = 0; j < units.length; j += 8192) out += String.fromCharCode(...units.slice(j, j + 8192));
  return out;
}
