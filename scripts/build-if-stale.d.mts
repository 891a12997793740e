// Types for build-if-stale.mjs (plain JavaScript, so that it runs before anything is compiled).
export declare const INPUTS: string[];
export declare const OUTPUTS: string[];
export declare const STAMP: string;
export declare function newestInput(root: string, paths?: string[]): number;
export declare function staleReason(root: string): string | null;
export declare function writeStamp(root: string, startedMs: number): void;
export declare function build(root: string): number;
export declare function nodeRefused(version: string): boolean;
