import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { downloadFilename } from "./copysources.js";

describe("ADD <url> file names (dockerd's getFilenameForDownload)", () => {
  it("takes the URL path's last segment, decoded", () => {
    assert.equal(downloadFilename("/dir/file.txt", undefined), "file.txt");
    assert.equal(downloadFilename("/dir/my%20file.tar.gz", 'attachment; filename="other"'), "my file.tar.gz", "the path wins over Content-Disposition");
  });

  it("falls back to Content-Disposition's filename for a path ending in / or empty, else nothing", () => {
    assert.equal(downloadFilename("/dir/", 'attachment; filename="cd.txt"'), "cd.txt");
    assert.equal(downloadFilename("/", "attachment; filename=plain.bin"), "plain.bin");
    assert.equal(downloadFilename("", 'inline; filename="../../etc/passwd"'), "passwd", "only a base name");
    assert.equal(downloadFilename("/dir/", 'attachment; filename="sub/"'), "");
    assert.equal(downloadFilename("/dir/", undefined), "");
  });

  it("refuses a malformed escape as Go's URL parser does", () => {
    assert.throws(() => downloadFilename("/a%zz", undefined), { message: 'invalid URL escape "%zz"' });
    assert.throws(() => downloadFilename("/a%4", undefined), { message: 'invalid URL escape "%4"' });
  });
});
