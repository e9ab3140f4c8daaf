/** The registry view: the repositories, tags and sizes (sum of layer sizes) of the registry set by --dashboard-registry. */
import { useState } from "preact/hooks";
import { api, bytes } from "./api.js";
import { ErrorLine, useAsync } from "./widgets.js";

interface TagInfo {
  tag: string;
  digest?: string;
  size?: number;
  error?: string;
}

function RepoRows({ repo }: { repo: string }) {
  const tags = useAsync(() => api<TagInfo[]>("GET", `/_registry/repositories/${repo}/tags`), [repo]);
  if (tags.error)
    return (
      <tr data-repo={repo}>
        <td>{repo}</td>
        <td colSpan={3}>
          <ErrorLine error={tags.error} />
        </td>
      </tr>
    );
  if (!tags.value)
    return (
      <tr data-repo={repo}>
        <td>{repo}</td>
        <td colSpan={3} class="muted">
          loading…
        </td>
      </tr>
    );
  return (
    <>
      {tags.value.map((t) => (
        <tr key={t.tag} data-repo={repo} data-tag={t.tag}>
          <td>{repo}</td>
          <td>{t.tag}</td>
          <td class="num">{t.size === undefined ? "—" : bytes(t.size)}</td>
          <td>{t.error ? <span class="error">{t.error}</span> : <code title={t.digest}>{t.digest?.slice(0, 19)}</code>}</td>
        </tr>
      ))}
    </>
  );
}

export function RegistryView({ url }: { url: string }) {
  const [gen, setGen] = useState(0);
  const repos = useAsync(() => api<string[]>("GET", "/_registry/repositories"), [gen]);
  return (
    <section aria-labelledby="h-registry">
      <div class="toolbar">
        <h1 id="h-registry">Registry</h1>
        <span class="muted">{url}</span>
        <button type="button" onClick={() => setGen((g) => g + 1)}>
          Reload
        </button>
      </div>
      <ErrorLine error={repos.error} />
      {repos.value?.length === 0 && <p class="muted">No repositories.</p>}
      <table class="grid">
        <thead>
          <tr>
            <th>Repository</th>
            <th>Tag</th>
            <th>Size</th>
            <th>Digest</th>
          </tr>
        </thead>
        <tbody>
          {(repos.value ?? []).map((r) => (
            <RepoRows key={`${r}@${gen}`} repo={r} />
          ))}
        </tbody>
      </table>
    </section>
  );
}
