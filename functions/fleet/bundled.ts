import type { FleetManifest } from './manifest.ts';

/** The manifest infra/bundle.ts inlines at build time; empty when run from source. */
declare const __MAILSIFT_FLEET__: FleetManifest | undefined;

/**
 * In a module of its own, so that the worker and the dispatcher bundles share one chunk with it: a cold start
 * parses the (possibly large) manifest once, and only the functions that import it.
 */
export const BUNDLED_MANIFEST: FleetManifest =
  typeof __MAILSIFT_FLEET__ === 'undefined' ? { ruleFiles: {}, schedules: {} } : __MAILSIFT_FLEET__;
