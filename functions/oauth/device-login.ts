import { OAuth2Error } from '../errors.ts';
import type { StateStore } from '../state/store.ts';
import type { OAuth2Settings } from './settings.ts';
import { finishDeviceLogin, startDeviceLogin } from './token-endpoint.ts';
import { storeRefreshToken } from './tokens.ts';

/**
 * `mailsift auth login`: a device login (RFC 8628) whose refresh token goes into the state store, where later
 * runs of the account find it ahead of a configured one. `say` shows the user what to open and type; no token
 * is ever shown.
 */
export async function deviceLogin(
  settings: OAuth2Settings,
  target: { readonly state: StateStore; readonly scope: string },
  say: (line: string) => void,
  sleep?: (ms: number) => Promise<void>,
): Promise<void> {
  const device = await startDeviceLogin(settings, settings.scope);
  say(
    `To sign in account ${settings.account}, open ${device.verificationUri} and enter the code ${device.userCode}`,
  );
  say(`Waiting for the sign-in (asking every ${device.intervalS} s) …`);
  const tokens = await finishDeviceLogin(settings, device, sleep);
  if (!tokens.refreshToken) {
    throw new OAuth2Error(
      `account ${JSON.stringify(settings.account)}: the token server gave no refresh token` +
        (settings.provider === 'microsoft' ? '; add offline_access to oauth2.scope' : ''),
    );
  }
  await storeRefreshToken(target.state, target.scope, tokens.refreshToken);
  say(
    `Signed in. Runs of ${settings.account} use this sign-in from now on (kept in ${target.state.description}).`,
  );
}
