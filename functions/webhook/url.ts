/** Where a webhook URL may point: https anywhere, plain http only on this machine; never with credentials. */
export function isAllowedWebhookUrl(text: string): boolean {
  try {
    const url = new URL(text);
    if (url.username || url.password) return false;
    if (url.protocol === 'https:') return true;
    return url.protocol === 'http:' && /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(url.hostname);
  } catch {
    return false;
  }
}
