// DNS suffixes per Azure cloud: which names a registry, its storage and MCR live under.

export type CloudName = 'AzureCloud' | 'AzureUSGovernment' | 'AzureChinaCloud';

export interface CloudSuffixes {
  readonly acr: string;
  readonly blob: string;
  /** null where the cloud has no MCR of its own (US Government pulls from mcr.microsoft.com). */
  readonly mcr: string;
}

export const CLOUDS: Readonly<Record<CloudName, CloudSuffixes>> = Object.freeze({
  AzureCloud: { acr: 'azurecr.io', blob: 'blob.core.windows.net', mcr: 'mcr.microsoft.com' },
  AzureUSGovernment: { acr: 'azurecr.us', blob: 'blob.core.usgovcloudapi.net', mcr: 'mcr.microsoft.com' },
  AzureChinaCloud: { acr: 'azurecr.cn', blob: 'blob.core.chinacloudapi.cn', mcr: 'mcr.azure.cn' },
});

/** The `cloud` field of Microsoft's service-tag file for each cloud. */
export const SERVICE_TAG_CLOUD: Readonly<Record<CloudName, string>> = Object.freeze({
  AzureCloud: 'Public',
  AzureUSGovernment: 'AzureGovernment',
  AzureChinaCloud: 'China',
});

/** Microsoft's download pages for each cloud's service-tag file. */
export const SERVICE_TAG_DOWNLOAD_PAGE: Readonly<Record<CloudName, string>> = Object.freeze({
  AzureCloud: 'https://www.microsoft.com/en-us/download/details.aspx?id=56519',
  AzureUSGovernment: 'https://www.microsoft.com/en-us/download/details.aspx?id=57063',
  AzureChinaCloud: 'https://www.microsoft.com/en-us/download/details.aspx?id=57062',
});
