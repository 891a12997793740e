// Service-tag files in Microsoft's format whose ranges are loopback, for tests on 127.0.0.0/8.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestTag {
  name: string;
  region?: string;
  systemService?: string;
  prefixes: string[];
}

export function serviceTagsJson(tags: TestTag[], changeNumber = 1, cloud = 'Public'): string {
  return JSON.stringify(
    {
      changeNumber,
      cloud,
      values: tags.map((t) => ({
        name: t.name,
        id: t.name,
        properties: {
          changeNumber: 1,
          region: t.region ?? '',
          regionId: 0,
          platform: 'Azure',
          systemService: t.systemService ?? t.name.split('.')[0],
          addressPrefixes: t.prefixes,
          networkFeatures: null,
        },
      })),
    },
    null,
    2,
  );
}

/** The usual loopback layout: ACR on 127.0.0.2, Storage on 127.0.0.3, MCR on 127.0.0.4, AFD on 127.0.0.5. */
export function loopbackTags(): TestTag[] {
  return [
    { name: 'AzureContainerRegistry', prefixes: ['127.0.0.2/32', '127.0.0.12/32'] },
    {
      name: 'AzureContainerRegistry.EastUS',
      region: 'eastus',
      systemService: 'AzureContainerRegistry',
      prefixes: ['127.0.0.2/32'],
    },
    {
      name: 'AzureContainerRegistry.WestUS',
      region: 'westus',
      systemService: 'AzureContainerRegistry',
      prefixes: ['127.0.0.12/32'],
    },
    { name: 'Storage', systemService: 'AzureStorage', prefixes: ['127.0.0.3/32', '127.0.0.13/32'] },
    { name: 'Storage.EastUS', region: 'eastus', systemService: 'AzureStorage', prefixes: ['127.0.0.3/32'] },
    { name: 'Storage.WestUS', region: 'westus', systemService: 'AzureStorage', prefixes: ['127.0.0.13/32'] },
    { name: 'MicrosoftContainerRegistry', prefixes: ['127.0.0.4/32'] },
    { name: 'AzureFrontDoor.FirstParty', systemService: 'AzureFrontDoor', prefixes: ['127.0.0.5/32'] },
  ];
}

export function writeTagsFile(
  tags: TestTag[] = loopbackTags(),
  changeNumber = 1,
  dir = mkdtempSync(join(tmpdir(), 'acr-egress-tags-')),
): string {
  const file = join(dir, `tags-${changeNumber}.json`);
  writeFileSync(file, serviceTagsJson(tags, changeNumber));
  return file;
}
