/** Where a running rule is: how many messages matched, and how far the current action has got. */
export interface RuleProgress {
  readonly ruleset: string;
  readonly rule: string;
  readonly matched: number;
  readonly acted: number;
  /** 1-based index of the running action (0 while matching), of `actions`. */
  readonly action: number;
  readonly actions: number;
  readonly actionType?: string;
  /** Messages the running action has finished. */
  readonly done: number;
}
