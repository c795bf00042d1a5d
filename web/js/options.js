// Page options from the URL fragment (never sent to the server, so the token stays out of logs):
//   #token=…          the access token (else the page asks, and keeps it in sessionStorage only)
//   &screen=ID        the screen to watch first
//   &transport=jpeg   skip WebRTC and use the JPEG fallback
//   &stats=1          open the statistics panel
//   &debug=1          log protocol traffic to the console
//   &e2e=1            test hook: one getUserMedia call before connecting, so headless Chromium gathers loopback
//                     ICE candidates (see docs/VIEWER.md)

const TOKEN_KEY = 'sightline.token';

/** Parses a fragment (`#a=1&b=2`, with or without the leading `#`). */
export function parseFragment(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const flag = (name) => ['1', 'true', 'yes', 'on'].includes((params.get(name) || '').toLowerCase());
  const transport = (params.get('transport') || '').toLowerCase();
  return {
    token: params.get('token') || null,
    screen: params.get('screen') || null,
    transport: transport === 'jpeg' ? 'jpeg' : transport === 'webrtc' ? 'webrtc' : null,
    stats: flag('stats'),
    debug: flag('debug'),
    e2e: flag('e2e'),
  };
}

/** The fragment without its token, so it can stay in the address bar (and in screenshots) safely. */
export function fragmentWithoutToken(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  params.delete('token');
  const rest = params.toString();
  return rest ? `#${rest}` : '';
}

export function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled (private mode): the token then lives only as long as the page.
  }
}
