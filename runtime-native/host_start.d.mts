// Types of host_start.mjs (plain JavaScript, so that bin/flip.js can run it before TypeScript is loaded).
export declare const HUGE_PAGES: string;
export declare const STARTED_WITH: string;
export interface HostFacts { platform: string; glibc: string | undefined; thp: string | undefined }
export declare function hostFacts(): HostFacts;
export declare function startEnv(env: NodeJS.ProcessEnv, facts: HostFacts): Record<string, string> | null;
export declare function userEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export declare function restartForHost(): void;
