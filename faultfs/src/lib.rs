//! A power-cut file system for baobi's tests: an in-memory FUSE file system (`fuser`) mounted at a
//! folder, which keeps, like a disk behind a page cache, only what was made durable, and can simulate a
//! power cut ([`FaultFs::cut`]) that throws the rest away and remounts what survived at the same path.
//!
//! It exists because a SIGKILL is not a power cut: after a kill the kernel's page cache still reaches the
//! disk, after a cut it does not. Jepsen found losses in mature databases this way with LazyFS; this
//! crate follows LazyFS's model so that baobi's stores (sled 0.34) can be tested under the same standard
//! (issue 10).
//!
//! # The model
//! - **File data is volatile until the file is fsynced.** `write`, and size changes (`truncate`,
//!   `ftruncate`, `fallocate` growing a file), change what readers see at once but stay *unsynced* until
//!   `fsync` or `fdatasync` on that file makes its whole content durable. Nothing else does:
//!   `close`/`flush`, `sync_file_range` (FUSE has no request for it; the kernel handles it in its page
//!   cache, which a FUSE file system written through never has dirty) and directory fsyncs leave a
//!   file's data unsynced.
//! - **Namespace operations are durable at once**: create, mkdir, mknod, unlink, rmdir, rename. LazyFS
//!   passes metadata through to the underlying file system rather than caching it, and so does this
//!   model; it means a file created and never fsynced survives a cut empty (or with its last durable
//!   content), as it does on ext4 with a journalled directory.
//! - **A cut** ([`FaultFs::cut`]) happens in one instant (under the file system's lock): every unsynced
//!   change of every file is dropped, the file going back to its last durable content. With `tear`, the
//!   last unsynced write of each file may instead be torn: a seeded prefix of it, ending at a 512-byte
//!   sector boundary of the file, is kept on top of the durable content (a write the drive had half
//!   done). Then the old mount is lazily unmounted (any process still using it gets `EIO` from then on)
//!   and the surviving image is mounted at the same path. The caller is expected to have SIGKILLed every
//!   process using the mount first, as a power cut would.
//!
//! A cut can also be armed to land the instant a file is created ([`FaultFs::cut_on_create`]), e.g.
//! when sled starts writing its snapshot, or right after the n-th next write
//! ([`FaultFs::cut_after_writes`]): a seeded point in the I/O rather than in time.
//!
//! [`FaultFs::stats`] counts writes and fsyncs and says what the last cut dropped.
//!
//! Inode-based and single-threaded (fuser's session loop); every file lives in memory. Tests only.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    BackgroundSession, FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    TimeOrNow,
};
use libc::{EEXIST, EINVAL, EIO, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY, EOPNOTSUPP};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The size of a disk sector: a torn write keeps a prefix ending at a multiple of it.
pub const SECTOR: u64 = 512;

/// How long the kernel may cache attributes and names (they change only through this mount).
const TTL: Duration = Duration::from_secs(1);

/// What can go wrong mounting or cutting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The FUSE mount failed (no `/dev/fuse`, no permission, no `fusermount3`).
    #[error("cannot mount the fault file system at {path}: {source}")]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Counts since the mount, and what the last cut dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `write` requests served.
    pub writes: u64,
    /// `fsync`/`fdatasync` requests on files served.
    pub fsyncs: u64,
    /// Cuts so far.
    pub cuts: u64,
    /// What the last cut did, if there was one.
    pub last_cut: Option<CutReport>,
}

/// What one cut dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Files that had unsynced changes.
    pub files: u64,
    /// Unsynced writes dropped (a torn write counts as dropped).
    pub writes_dropped: u64,
    /// Bytes of unsynced writes dropped (minus what torn writes kept).
    pub bytes_dropped: u64,
    /// Writes torn, and the bytes their kept prefixes hold.
    pub torn: u64,
    /// Bytes kept by torn writes.
    pub torn_bytes_kept: u64,
}

/// One mounted fault file system. Unmounted on drop.
pub struct FaultFs {
    path: PathBuf,
    /// The FUSE connection's number under `/sys/fs/fuse/connections` (the mount's device minor).
    conn: Option<u64>,
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
}

impl FaultFs {
    /// Mounts an empty fault file system at `path` (an existing, empty folder).
    pub fn mount(path: impl AsRef<Path>) -> Result<FaultFs, Error> {
        let path = path.as_ref().to_path_buf();
        let state = Arc::new(Mutex::new(State::new()));
        let mut fs = FaultFs {
            path,
            conn: None,
            state,
            session: None,
        };
        fs.session = Some(fs.spawn()?);
        fs.conn = fs.connection();
        Ok(fs)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counts so far.
    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// A power cut: drops every unsynced change (tearing, with `tear`, the last unsynced write of each
    /// file at a sector boundary chosen from `seed`), unmounts and remounts the surviving image at the
    /// same path. Kill every process using the mount first.
    pub fn cut(&mut self, seed: u64, tear: bool) -> Result<CutReport, Error> {
        let report = {
            let mut st = self.lock();
            st.generation += 1;
            st.trigger = None;
            st.writes_left = None;
            st.tripped = false;
            st.cut(seed, tear)
        };
        self.unmount();
        self.session = Some(self.spawn()?);
        self.conn = self.connection();
        Ok(report)
    }

    /// Arms a power cut at the instant a file whose name contains `part` is created (or renamed to
    /// such a name): that operation completes, and from then on every request to this mount fails with
    /// `EIO`, as if the power had gone right after it. [`FaultFs::tripped`] tells when it happened;
    /// the caller then kills the processes and calls [`FaultFs::cut`], which disarms it.
    pub fn cut_on_create(&self, part: &str) {
        let mut st = self.lock();
        st.trigger = Some(OsString::from(part));
        st.tripped = false;
    }

    /// Arms a power cut right after the `n`th next `write` request (n ≥ 1): that write lands, unsynced,
    /// and every later request fails with `EIO`. With `tear`, [`FaultFs::cut`] may keep part of it.
    pub fn cut_after_writes(&self, n: u64) {
        let mut st = self.lock();
        st.writes_left = Some(n.max(1));
        st.tripped = false;
    }

    /// True once an armed [`FaultFs::cut_on_create`] or [`FaultFs::cut_after_writes`] went off.
    pub fn tripped(&self) -> bool {
        self.lock().tripped
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawn(&self) -> Result<BackgroundSession, Error> {
        let generation = self.lock().generation;
        let handle = Handle {
            generation,
            state: Arc::clone(&self.state),
        };
        let options = [
            MountOption::FSName("baobi-faultfs".into()),
            MountOption::DefaultPermissions,
        ];
        fuser::spawn_mount2(handle, &self.path, &options).map_err(|source| Error::Mount {
            path: self.path.clone(),
            source,
        })
    }

    /// The mounted file system's FUSE connection number (its device's minor number).
    fn connection(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(&self.path).ok()?.dev();
        Some((dev & 0xff) | ((dev >> 12) & 0xff_ff_ff_00))
    }

    /// Aborts the mount's FUSE connection, then detaches it lazily, so that whatever still holds one of
    /// its files (a process not killed, a value leaked in a test) gets an error at once instead of
    /// waiting on a session that no longer answers: a process exiting with a file open on a mount
    /// served by a dead session would hang in `close` forever.
    fn unmount(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        // Abort first: once detached, the connection's number may be freed and reused by another mount.
        if let Some(conn) = self.conn.take() {
            abort(conn);
        }
        let detached = Command::new("fusermount3")
            .args(["-u", "-z", "-q", "--"])
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !detached {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
        // Dropping the session no longer finds it mounted at the path (or fails harmlessly); its thread
        // is detached and ends as the aborted connection closes.
        drop(session);
    }
}

impl Drop for FaultFs {
    fn drop(&mut self) {
        self.lock().generation += 1;
        self.unmount();
    }
}

/// Aborts FUSE connection `conn` through the fusectl file system (mounted here if it is not yet).
fn abort(conn: u64) {
    let dir = Path::new("/sys/fs/fuse/connections");
    let file = dir.join(conn.to_string()).join("abort");
    if !file.exists() {
        let _ = Command::new("mount")
            .args(["-t", "fusectl", "none"])
            .arg(dir)
            .status();
    }
    let _ = std::fs::write(file, b"1");
}

/// An unsynced change of a file's data, kept only for tearing and counting.
#[derive(Debug, Clone)]
enum Change {
    Write { offset: u64, data: Vec<u8> },
    SetLen,
}

#[derive(Debug)]
struct Node {
    kind: FileType,
    perm: u16,
    uid: u32,
    gid: u32,
    rdev: u32,
    nlink: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
    /// What readers see.
    data: Vec<u8>,
    /// What survives a cut.
    durable: Vec<u8>,
    /// Unsynced changes since the last fsync: their number, the bytes written, and the last one.
    unsynced: u64,
    unsynced_bytes: u64,
    last: Option<Change>,
    /// Open handles (an unlinked file lives while open).
    open: u32,
    /// Directories: entries and the parent.
    children: BTreeMap<OsString, u64>,
    parent: u64,
}

impl Node {
    fn new(kind: FileType, perm: u16, uid: u32, gid: u32, parent: u64) -> Node {
        let now = SystemTime::now();
        Node {
            kind,
            perm,
            uid,
            gid,
            rdev: 0,
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            atime: now,
            mtime: now,
            ctime: now,
            data: Vec::new(),
            durable: Vec::new(),
            unsynced: 0,
            unsynced_bytes: 0,
            last: None,
            open: 0,
            children: BTreeMap::new(),
            parent,
        }
    }

    fn attr(&self, ino: u64) -> FileAttr {
        let size = self.data.len() as u64;
        FileAttr {
            ino,
            size,
            blocks: size.div_ceil(SECTOR),
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            crtime: self.ctime,
            kind: self.kind,
            perm: self.perm,
            nlink: self.nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: self.rdev,
            blksize: 4096,
            flags: 0,
        }
    }

    fn changed(&mut self, change: Change, bytes: u64) {
        self.unsynced += 1;
        self.unsynced_bytes += bytes;
        self.last = Some(change);
        let now = SystemTime::now();
        self.mtime = now;
        self.ctime = now;
    }

    fn sync(&mut self) {
        if self.unsynced > 0 {
            self.durable = self.data.clone();
            self.unsynced = 0;
            self.unsynced_bytes = 0;
            self.last = None;
        }
    }
}

struct State {
    nodes: BTreeMap<u64, Node>,
    next_ino: u64,
    generation: u64,
    stats: Stats,
    /// An armed cut: a name part, and whether a matching file was created since.
    trigger: Option<OsString>,
    /// An armed cut after this many more writes.
    writes_left: Option<u64>,
    tripped: bool,
}

const ROOT: u64 = fuser::FUSE_ROOT_ID;

impl State {
    fn new() -> State {
        let mut nodes = BTreeMap::new();
        nodes.insert(ROOT, Node::new(FileType::Directory, 0o755, 0, 0, ROOT));
        State {
            nodes,
            next_ino: ROOT + 1,
            generation: 0,
            stats: Stats::default(),
            trigger: None,
            writes_left: None,
            tripped: false,
        }
    }

    fn cut(&mut self, seed: u64, tear: bool) -> CutReport {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut report = CutReport::default();
        self.nodes.retain(|_, n| n.nlink > 0);
        for node in self.nodes.values_mut() {
            node.open = 0;
            if node.unsynced == 0 {
                continue;
            }
            report.files += 1;
            report.writes_dropped += node.unsynced;
            report.bytes_dropped += node.unsynced_bytes;
            let mut image = std::mem::take(&mut node.durable);
            if let (true, Some(Change::Write { offset, data })) = (tear, &node.last) {
                let end = offset + data.len() as u64;
                // Sector boundaries strictly inside the write: a prefix ending at one is what a drive
                // that lost power mid-write may have put down.
                let first = (offset / SECTOR + 1) * SECTOR;
                if first < end {
                    let choices = (end - 1 - first) / SECTOR + 1;
                    let cut_at = first + rng.gen_range(0..choices) * SECTOR;
                    let kept = (cut_at - offset) as usize;
                    let (off, kept_end) = (*offset as usize, cut_at as usize);
                    if image.len() < kept_end {
                        image.resize(kept_end, 0);
                    }
                    image[off..kept_end].copy_from_slice(&data[..kept]);
                    report.torn += 1;
                    report.torn_bytes_kept += kept as u64;
                    report.bytes_dropped -= kept as u64;
                }
            }
            node.data = image.clone();
            node.durable = image;
            node.unsynced = 0;
            node.unsynced_bytes = 0;
            node.last = None;
        }
        self.stats.cuts += 1;
        self.stats.last_cut = Some(report.clone());
        report
    }

    /// Trips an armed cut if `name` matches it.
    fn created(&mut self, name: &OsStr) {
        if let Some(part) = &self.trigger {
            let (name, part) = (name.to_string_lossy(), part.to_string_lossy());
            if name.contains(part.as_ref()) {
                self.tripped = true;
            }
        }
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<u64, i32> {
        let p = self.nodes.get(&parent).ok_or(ENOENT)?;
        if p.kind != FileType::Directory {
            return Err(ENOTDIR);
        }
        p.children.get(name).copied().ok_or(ENOENT)
    }

    fn add(&mut self, parent: u64, name: &OsStr, node: Node) -> Result<u64, i32> {
        let p = self.nodes.get(&parent).ok_or(ENOENT)?;
        if p.kind != FileType::Directory {
            return Err(ENOTDIR);
        }
        if p.children.contains_key(name) {
            return Err(EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.created(name);
        let is_dir = node.kind == FileType::Directory;
        self.nodes.insert(ino, node);
        let p = self.nodes.get_mut(&parent).ok_or(ENOENT)?;
        p.children.insert(name.to_os_string(), ino);
        if is_dir {
            p.nlink += 1;
        }
        p.mtime = SystemTime::now();
        p.ctime = p.mtime;
        Ok(ino)
    }

    /// Drops one link of `ino` (removed from a directory); forgets it when nothing holds it.
    fn unlinked(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.nlink = if n.kind == FileType::Directory {
                0
            } else {
                n.nlink.saturating_sub(1)
            };
            n.ctime = SystemTime::now();
            if n.nlink == 0 && n.open == 0 {
                self.nodes.remove(&ino);
            }
        }
    }

    fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Result<(), i32> {
        let ino = self.child(parent, name)?;
        let n = self.nodes.get(&ino).ok_or(ENOENT)?;
        match (dir, n.kind == FileType::Directory) {
            (true, false) => return Err(ENOTDIR),
            (false, true) => return Err(EISDIR),
            (true, true) if !n.children.is_empty() => return Err(ENOTEMPTY),
            _ => {}
        }
        let p = self.nodes.get_mut(&parent).ok_or(ENOENT)?;
        p.children.remove(name);
        if dir {
            p.nlink -= 1;
        }
        p.mtime = SystemTime::now();
        p.ctime = p.mtime;
        self.unlinked(ino);
        Ok(())
    }

    fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
    ) -> Result<(), i32> {
        let ino = self.child(parent, name)?;
        if flags & libc::RENAME_EXCHANGE != 0 {
            return Err(EINVAL);
        }
        let is_dir = self.nodes.get(&ino).ok_or(ENOENT)?.kind == FileType::Directory;
        match self.child(newparent, newname) {
            Ok(_) if flags & libc::RENAME_NOREPLACE != 0 => return Err(EEXIST),
            Ok(old) if old == ino => return Ok(()),
            Ok(old) => {
                let o = self.nodes.get(&old).ok_or(ENOENT)?;
                match (is_dir, o.kind == FileType::Directory) {
                    (true, false) => return Err(ENOTDIR),
                    (false, true) => return Err(EISDIR),
                    (true, true) if !o.children.is_empty() => return Err(ENOTEMPTY),
                    _ => {}
                }
                self.remove(newparent, newname, is_dir)?;
            }
            Err(ENOENT) => {}
            Err(e) => return Err(e),
        }
        // A directory may not move under itself.
        if is_dir {
            let mut up = newparent;
            while up != ROOT {
                if up == ino {
                    return Err(EINVAL);
                }
                up = self.nodes.get(&up).ok_or(ENOENT)?.parent;
            }
        }
        let now = SystemTime::now();
        let p = self.nodes.get_mut(&parent).ok_or(ENOENT)?;
        p.children.remove(name);
        if is_dir {
            p.nlink -= 1;
        }
        p.mtime = now;
        let np = self.nodes.get_mut(&newparent).ok_or(ENOENT)?;
        np.children.insert(newname.to_os_string(), ino);
        if is_dir {
            np.nlink += 1;
        }
        np.mtime = now;
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.parent = newparent;
            n.ctime = now;
        }
        self.created(newname);
        Ok(())
    }

    fn set_len(&mut self, ino: u64, len: u64) -> Result<(), i32> {
        let n = self.nodes.get_mut(&ino).ok_or(ENOENT)?;
        if n.kind == FileType::Directory {
            return Err(EISDIR);
        }
        if n.data.len() as u64 != len {
            n.data.resize(len as usize, 0);
            n.changed(Change::SetLen, 0);
        }
        Ok(())
    }
}

/// The file system as one mount generation sees it: a stale generation (after a cut) answers `EIO`.
struct Handle {
    generation: u64,
    state: Arc<Mutex<State>>,
}

impl Handle {
    fn state(&self) -> Result<MutexGuard<'_, State>, i32> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.generation == self.generation && !st.tripped {
            Ok(st)
        } else {
            Err(EIO)
        }
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for Handle {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let r = self.state().and_then(|st| {
            let ino = st.child(parent, name)?;
            Ok(st.nodes[&ino].attr(ino))
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let r = self
            .state()
            .and_then(|st| st.nodes.get(&ino).map(|n| n.attr(ino)).ok_or(ENOENT));
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let r = self.state().and_then(|mut st| {
            if let Some(len) = size {
                st.set_len(ino, len)?;
            }
            let n = st.nodes.get_mut(&ino).ok_or(ENOENT)?;
            if let Some(m) = mode {
                n.perm = (m & 0o7777) as u16;
            }
            if let Some(u) = uid {
                n.uid = u;
            }
            if let Some(g) = gid {
                n.gid = g;
            }
            if let Some(t) = atime {
                n.atime = time(t);
            }
            if let Some(t) = mtime {
                n.mtime = time(t);
            }
            n.ctime = SystemTime::now();
            Ok(n.attr(ino))
        });
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let kind = match mode & libc::S_IFMT {
            libc::S_IFREG => FileType::RegularFile,
            libc::S_IFSOCK => FileType::Socket,
            libc::S_IFIFO => FileType::NamedPipe,
            _ => return reply.error(EOPNOTSUPP),
        };
        let r = self.state().and_then(|mut st| {
            let mut node = Node::new(
                kind,
                (mode & !umask & 0o7777) as u16,
                req.uid(),
                req.gid(),
                parent,
            );
            node.rdev = rdev;
            let ino = st.add(parent, name, node)?;
            Ok(st.nodes[&ino].attr(ino))
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let r = self.state().and_then(|mut st| {
            let node = Node::new(
                FileType::Directory,
                (mode & !umask & 0o7777) as u16,
                req.uid(),
                req.gid(),
                parent,
            );
            let ino = st.add(parent, name, node)?;
            Ok(st.nodes[&ino].attr(ino))
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        match self
            .state()
            .and_then(|mut st| st.remove(parent, name, false))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        match self
            .state()
            .and_then(|mut st| st.remove(parent, name, true))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        match self
            .state()
            .and_then(|mut st| st.rename(parent, name, newparent, newname, flags))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        let r = self.state().and_then(|mut st| {
            let n = st.nodes.get_mut(&ino).ok_or(ENOENT)?;
            n.open += 1;
            Ok(())
        });
        match r {
            Ok(()) => reply.opened(0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let r = self.state().and_then(|mut st| {
            let mut node = Node::new(
                FileType::RegularFile,
                (mode & !umask & 0o7777) as u16,
                req.uid(),
                req.gid(),
                parent,
            );
            node.open = 1;
            let ino = st.add(parent, name, node)?;
            Ok(st.nodes[&ino].attr(ino))
        });
        match r {
            Ok(a) => reply.created(&TTL, &a, 0, 0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let r = self.state().and_then(|st| {
            let n = st.nodes.get(&ino).ok_or(ENOENT)?;
            if n.kind == FileType::Directory {
                return Err(EISDIR);
            }
            let start = (offset.max(0) as usize).min(n.data.len());
            let end = start.saturating_add(size as usize).min(n.data.len());
            Ok(n.data[start..end].to_vec())
        });
        match r {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let r = self.state().and_then(|mut st| {
            let offset = u64::try_from(offset).map_err(|_| EINVAL)?;
            let n = st.nodes.get_mut(&ino).ok_or(ENOENT)?;
            if n.kind == FileType::Directory {
                return Err(EISDIR);
            }
            let (start, end) = (offset as usize, offset as usize + data.len());
            if n.data.len() < end {
                n.data.resize(end, 0);
            }
            n.data[start..end].copy_from_slice(data);
            n.changed(
                Change::Write {
                    offset,
                    data: data.to_vec(),
                },
                data.len() as u64,
            );
            st.stats.writes += 1;
            if let Some(n) = st.writes_left.as_mut() {
                *n -= 1;
                if *n == 0 {
                    st.writes_left = None;
                    st.tripped = true;
                }
            }
            Ok(data.len() as u32)
        });
        match r {
            Ok(w) => reply.written(w),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _owner: u64, reply: ReplyEmpty) {
        match self.state() {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if let Ok(mut st) = self.state() {
            if let Some(n) = st.nodes.get_mut(&ino) {
                n.open = n.open.saturating_sub(1);
                if n.open == 0 && n.nlink == 0 {
                    st.nodes.remove(&ino);
                }
            }
        }
        reply.ok();
    }

    fn fsync(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let r = self.state().and_then(|mut st| {
            st.nodes.get_mut(&ino).ok_or(ENOENT)?.sync();
            st.stats.fsyncs += 1;
            Ok(())
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // The namespace is durable at once: nothing to do.
        match self.state() {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.state().and_then(|st| {
            let n = st.nodes.get(&ino).ok_or(ENOENT)?;
            if n.kind != FileType::Directory {
                return Err(ENOTDIR);
            }
            let mut all = vec![
                (ino, FileType::Directory, OsString::from(".")),
                (n.parent, FileType::Directory, OsString::from("..")),
            ];
            for (name, child) in &n.children {
                let kind = st
                    .nodes
                    .get(child)
                    .map_or(FileType::RegularFile, |c| c.kind);
                all.push((*child, kind, name.clone()));
            }
            Ok(all)
        });
        match r {
            Ok(all) => {
                for (i, (ino, kind, name)) in
                    all.into_iter().enumerate().skip(offset.max(0) as usize)
                {
                    if reply.add(ino, i as i64 + 1, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        match self.state() {
            Ok(st) => {
                let used: u64 = st
                    .nodes
                    .values()
                    .map(|n| (n.data.len() as u64).div_ceil(4096))
                    .sum();
                let total = 1u64 << 22; // 16 GiB of 4 KiB blocks
                let free = total.saturating_sub(used);
                reply.statfs(total, free, free, 1 << 20, 1 << 20, 4096, 255, 4096);
            }
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            return reply.error(EOPNOTSUPP);
        }
        let r = self.state().and_then(|mut st| {
            let end = u64::try_from(offset.saturating_add(length)).map_err(|_| EINVAL)?;
            let len = st.nodes.get(&ino).ok_or(ENOENT)?.data.len() as u64;
            if end > len {
                st.set_len(ino, end)?;
            }
            Ok(())
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
