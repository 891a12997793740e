// The service-tag source must be for the configured cloud: Microsoft's download page of another
// cloud, or a ServiceTags_<Cloud>_<date>.json of another cloud, is a config mistake caught at load.
import { SERVICE_TAG_CLOUD, SERVICE_TAG_DOWNLOAD_PAGE, type CloudName } from './cloud.js';

const pageId = (url: string): string | null => /details\.aspx\?id=(\d+)/i.exec(url)?.[1] ?? null;

/** The problem with serviceTags.source for cloud, or null. */
export function cloudSourceProblem(cloud: CloudName, source: string | null): string | null {
  if (source === null) return null;
  const clouds = Object.keys(SERVICE_TAG_DOWNLOAD_PAGE) as CloudName[];
  const id = pageId(source);
  const pageOf = id === null ? undefined : clouds.find((c) => pageId(SERVICE_TAG_DOWNLOAD_PAGE[c]) === id);
  if (pageOf !== undefined && pageOf !== cloud)
    return (
      `${source} is the service-tag download page of ${pageOf}, but cloud is ${cloud}: ` +
      `use ${SERVICE_TAG_DOWNLOAD_PAGE[cloud]} (or leave serviceTags.source out)`
    );
  const word = /ServiceTags_([A-Za-z]+)_\d{8}\.json/.exec(source)?.[1];
  if (word !== undefined && word.toLowerCase() !== SERVICE_TAG_CLOUD[cloud].toLowerCase())
    return `${source} is a ${word} service-tag file, but cloud ${cloud} needs ServiceTags_${SERVICE_TAG_CLOUD[cloud]}_<date>.json`;
  return null;
}
