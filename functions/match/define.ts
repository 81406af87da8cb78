import type { output, ZodOptional, ZodType } from 'zod';
import type { FetchMessageObject, FetchQueryObject, SearchObject } from '../imap/session.ts';
import type { SchemaKit } from '../rules/schema-kit.ts';
import type { MessageFacts } from './facts.ts';

/** What a SEARCH is compiled against: the clock, and what the server can decide. */
export interface SearchContext {
  readonly now: Date;
  /** Server offers WITHIN (RFC 5032): OLDER/YOUNGER compare INTERNALDATE to the second. */
  readonly hasWithin: boolean;
  /** Server is Gmail (X-GM-EXT-1), which takes its own search syntax as `X-GM-RAW`; absent: it is not. */
  readonly hasGmailSearch?: boolean;
}

/** A check SEARCH cannot express, and the FETCH items it needs. */
export interface ClientCheck {
  readonly needs: {
    envelope?: true;
    bodyStructure?: true;
    internalDate?: true;
    headers?: readonly string[];
  };
  readonly test: (message: FetchMessageObject) => boolean;
}

/** What one key decided for one message offline, and the value it looked at (for `mailsift explain`). */
export interface Verdict {
  readonly matched: boolean;
  readonly saw: string;
}

/** What a key's offline evaluation reads of a message, beyond its envelope, structure, flags, size and date. */
export type FactNeed = 'header' | 'body';

/** One match key of a rule file, in one file: everything the rest of mailsift needs to know about it. */
export interface MatchKeySpec<Key extends string, Schema extends ZodType> {
  readonly key: Key;
  /** Its rule-file schema, built from the shared pieces (zod is loaded by the rules loader only). */
  readonly schema: (kit: SchemaKit) => Schema;
  /**
   * Adds its SEARCH form to `query`. `superset`: the SEARCH may match more than the key (the client narrows),
   * which lets a key the client decides still narrow the server's answer.
   */
  readonly search?: (
    value: output<Schema>,
    query: SearchObject,
    context: SearchContext & { readonly superset: boolean },
  ) => void;
  /** Whether the client decides it here; the default: it has no SEARCH form. */
  readonly clientSide?: (context: SearchContext) => boolean;
  /** The client's check, for where `clientSide` holds. */
  readonly check?: (value: output<Schema>, context: SearchContext) => ClientCheck;
  /** What it decides for a message read offline (a file, or one message fetched for `explain`). */
  readonly evaluate: (
    value: output<Schema>,
    message: MessageFacts,
    context: { readonly now: Date },
  ) => Verdict;
  /** What `evaluate` reads beyond envelope, structure, flags, size and date. */
  readonly reads?: FactNeed;
}

/** A match key as the registry holds it: the same for every key, so compiler and evaluator loop over them. */
export interface MatchKeyDefinition<Key extends string = string, Schema extends ZodType = ZodType> {
  readonly key: Key;
  readonly schema: (kit: SchemaKit) => Schema;
  readonly hasSearch: boolean;
  search(value: unknown, query: SearchObject, context: SearchContext & { readonly superset: boolean }): void;
  clientSide(context: SearchContext): boolean;
  check(value: unknown, context: SearchContext): ClientCheck | undefined;
  evaluate(value: unknown, message: MessageFacts, context: { readonly now: Date }): Verdict;
  readonly reads?: FactNeed;
}

/**
 * Registers a match key. Its value reaches it as `unknown` and is taken as its own schema's output: the rules
 * loader validated it against exactly that schema (MatchSchema is built from the registry).
 */
export function defineMatchKey<Key extends string, Schema extends ZodType>(
  spec: MatchKeySpec<Key, Schema>,
): MatchKeyDefinition<Key, Schema> {
  const own = (value: unknown) => value as output<Schema>;
  return {
    key: spec.key,
    schema: spec.schema,
    hasSearch: spec.search !== undefined,
    search: (value, query, context) => spec.search?.(own(value), query, context),
    clientSide: (context) => spec.clientSide?.(context) ?? spec.search === undefined,
    check: (value, context) => spec.check?.(own(value), context),
    evaluate: (value, message, context) => spec.evaluate(own(value), message, context),
    ...(spec.reads ? { reads: spec.reads } : {}),
  };
}

/** The rule-file shape of a list of definitions: each key optional, with its own schema. */
export type MatchShapeOf<Definitions extends readonly MatchKeyDefinition[]> = {
  [D in Definitions[number] as D['key']]: ZodOptional<ReturnType<D['schema']>>;
};

/** FETCH items for a set of client checks. */
export function fetchFor(needs: readonly ClientCheck['needs'][]): FetchQueryObject {
  const headers = [...new Set(needs.flatMap((need) => need.headers ?? []))];
  return {
    uid: true,
    ...(needs.some((need) => need.envelope) ? { envelope: true } : {}),
    ...(needs.some((need) => need.bodyStructure) ? { bodyStructure: true } : {}),
    ...(needs.some((need) => need.internalDate) ? { internalDate: true } : {}),
    ...(headers.length > 0 ? { headers } : {}),
  };
}
