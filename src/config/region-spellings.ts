// Reads the Azure region spellings out of a service-tag file's values (no other imports, so the
// generator script can run before src/config/azure-regions.ts exists).

/**
 * Spelling -> ARM name pairs from a service-tag file's values. A regional tag is `Base.<Region>`
 * with properties.region set; the ARM name is the suffix most tags of that region use (FranceCentral,
 * where the file's own spelling is centralfrance).
 */
export function regionCatalogEntries(
  values: ReadonlyArray<{ name: string; properties: { region: string } }>,
): Map<string, string> {
  const suffixes = new Map<string, Map<string, number>>();
  for (const { name, properties } of values) {
    const region = properties.region.toLowerCase();
    const dot = name.lastIndexOf('.');
    if (region === '' || dot < 0) continue;
    const counts = suffixes.get(region) ?? new Map<string, number>();
    const suffix = name.slice(dot + 1).toLowerCase();
    counts.set(suffix, (counts.get(suffix) ?? 0) + 1);
    suffixes.set(region, counts);
  }
  const out = new Map<string, string>();
  for (const [region, counts] of suffixes) {
    const arm = [...counts].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    out.set(arm, arm);
    if (region !== arm) out.set(region, arm);
  }
  return out;
}
