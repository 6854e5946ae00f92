/**
 * `--hide`: the original of a hidden path cannot be read from inside by any way round: /proc/self/root,
 * PID 1's root, a symlink to it in a bound directory, a bind of its parent, the working directory, and,
 * with --root, by unmounting the cover or cloning the parent's mount without what covers it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { attack, homeDir, NEEDS_PY_X86, PY_MOUNT, sandboxSh, visibleHome } from "./_lib.ts";

const SKIP = visibleHome() === null || NEEDS_PY_X86;

Deno.test({
  name: "escape: a hidden path's original is out of reach by every path inside, also as --root",
  ignore: SKIP,
}, async () => {
  await using t = await homeDir();
  const p = await Deno.realPath(t.path);
  await Deno.mkdir(`${p}/secret`);
  await Deno.writeTextFile(`${p}/secret/key`, "PRIVATE\n");
  await Deno.writeTextFile(`${p}/token`, "TOKEN\n");
  await Deno.mkdir(`${p}/pub`);
  await Deno.symlink(`${p}/secret`, `${p}/pub/link`);
  await Deno.symlink(`${p}/token`, `${p}/pub/tlink`);
  const script = PY_MOUNT + `
D, F, P = ${JSON.stringify(`${p}/secret`)}, ${JSON.stringify(`${p}/token`)}, ${JSON.stringify(p)}
def ls(path):
    try:
        return repr(sorted(os.listdir(path)))
    except OSError as e:
        return ename(e.errno)
def cat(path):
    try:
        return repr(open(path).read())
    except OSError as e:
        return ename(e.errno)
out("root", ls(D))
out("proc_self_root", ls("/proc/self/root" + D))
out("proc_1_root", ls("/proc/1/root" + D))
out("link", ls("/tmp/w/link"))
out("parent_bind", ls("/tmp/all/secret"))
out("file", cat(F))
out("file_proc", cat("/proc/self/root" + F))
out("file_link", cat("/tmp/w/tlink"))
out("file_parent_bind", cat("/tmp/all/token"))
out("umount_dir", umount(D))
out("umount_dir_lazy", umount(D, MNT_DETACH))
out("umount_file", umount(F, MNT_DETACH))
os.mkdir("/tmp/m")
r = mount(P, "/tmp/m", None, MS_BIND)
out("bind_parent", r if r != "ok" else "ok " + ls("/tmp/m/secret") + " " + cat("/tmp/m/token"))
out("open_tree", sc(428, AT_FDCWD, P.encode(), 1))
os.chdir(D)
out("cwd", ls("."))
out("after", ls(D) + " " + cat(F))
`;
  const res = await attack(script, [
    "--root",
    "--ro-bind",
    `${p}/pub:/tmp/w`,
    "--ro-bind",
    `${p}:/tmp/all`,
    "--hide",
    `${p}/secret`,
    "--hide",
    `${p}/token`,
  ]);
  // PID 1 (nsbox's init) belongs to the outer user namespace: its root is not even open to the command
  assert.match(res.proc_1_root!, /^(\[\]|EACCES|EPERM)$/, JSON.stringify(res));
  for (const key of ["root", "proc_self_root", "link", "parent_bind", "cwd"]) {
    assert.equal(res[key], "[]", `${key}: ${JSON.stringify(res)}`);
  }
  for (const key of ["file", "file_proc", "file_link", "file_parent_bind"]) {
    assert.equal(res[key], "''", `${key}: ${JSON.stringify(res)}`);
  }
  for (const key of ["umount_dir", "umount_dir_lazy", "umount_file", "bind_parent", "open_tree"]) {
    assert.match(res[key]!, /^E[A-Z]+$/, `${key} was not refused: ${JSON.stringify(res)}`);
  }
  assert.equal(res.after, "[] ''");
});

Deno.test({
  name: "escape: started from inside a hidden directory, the sandbox's working directory is the cover",
  ignore: SKIP,
}, async () => {
  await using t = await homeDir();
  const p = await Deno.realPath(t.path);
  await Deno.writeTextFile(`${p}/key`, "PRIVATE\n");
  const r = await sandboxSh(`pwd; ls -A; cat key 2>/dev/null || echo none`, ["--hide", p], { cwd: p });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${p}\nnone\n`);
});
