// What the Health and Service tags views say when no service-tag data is loaded: that there is none,
// what that means for traffic under serviceTags.enforce, why (the last error) and how to fix it.
import type { TagsStatus } from '../../src/service-tags/types.js';
import { text } from './format';

export function NoTagData(props: { status: TagsStatus; enforce: boolean | string | null }) {
  const { status, enforce } = props;
  if (status.changeNumber !== null) return null;
  return (
    <div class="notice" role="status" aria-label="no service-tag data">
      <p>
        <strong>No service-tag data is loaded.</strong>{' '}
        {enforce === true
          ? 'Ranges are NOT enforced: addresses cannot be checked, so every rule that needs service tags is BLOCKED until data arrives.'
          : enforce === false
            ? 'Ranges are NOT enforced (serviceTags.enforce is false).'
            : 'Ranges are NOT enforced: tunnels the rules allow go through without their addresses being checked.'}
      </p>
      {status.lastError !== null && <p>The last refresh failed: {text(status.lastError)}</p>}
      <p>
        To fix it: let the gateway resolve and reach serviceTags.source over HTTPS (or set serviceTags.proxy), then
        press Refresh now in Service tags; or run <code>acr-egress tags update</code> on the host; or point
        serviceTags.source at a downloaded ServiceTags_Public_&lt;date&gt;.json.
      </p>
    </div>
  );
}
