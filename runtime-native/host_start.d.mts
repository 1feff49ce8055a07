// Types of host_start.mjs (plain JavaScript, so that bin/start.mjs can run it before TypeScript is loaded).
export declare const ONE_ARENA: string;
export declare const STARTED_WITH: string;
export interface HostFacts { platform: string; glibc: string | undefined }
export declare function hostMallocMode(env: NodeJS.ProcessEnv): 'keep' | 'system' | null;
export declare function hostFacts(): HostFacts;
export declare function targetOf(args: readonly string[]): string;
export declare function startEnv(env: NodeJS.ProcessEnv, facts: HostFacts, args?: readonly string[]): Record<string, string> | null;
export declare function userEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export declare function restartForHost(): void;
