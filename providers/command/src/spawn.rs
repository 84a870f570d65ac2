//! Starting a program as the child subreaper of everything it starts, in a process group of
//! its own, the way `posix_spawn` starts programs: `clone(CLONE_VM | CLONE_VFORK)` on a small
//! stack, so the child shares hive's memory until it calls `execve` instead of copying it.
//! (std's `pre_exec` would need a whole `fork`: for a hive of 50 MiB that made a thousand
//! short commands four times slower.) Between `clone` and `execve` the child only makes
//! system calls: it allocates nothing and takes no lock.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// What the child needs, prepared by the parent.
struct Setup {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    dir: *const libc::c_char,
    fds: [libc::c_int; 3],
    /// The signal mask to restore after the parent's blocked everything around `clone`.
    mask: libc::sigset_t,
    /// The child's `errno` when a step before `execve` failed; 0 when it got to run.
    error: AtomicI32,
}

/// A started program.
pub struct Spawned {
    pub pid: libc::pid_t,
}

/// Starts `program args...` in `dir`, with `env` (whole), stdin from `stdin` and output to
/// `stdout` and `stderr`.
pub fn spawn(
    program: &str,
    args: &[&str],
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    dir: &Path,
    stdin: &File,
    stdout: &File,
    stderr: &File,
) -> std::io::Result<Spawned> {
    let invalid = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} holds a NUL byte"),
        )
    };
    let path = CString::new(program).map_err(|_| invalid("the program"))?;
    let argv: Vec<CString> = std::iter::once(program)
        .chain(args.iter().copied())
        .map(CString::new)
        .collect::<Result<_, _>>()
        .map_err(|_| invalid("the script"))?;
    let envp: Vec<CString> = env
        .iter()
        .map(|(k, v)| {
            let mut pair = k.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(v.as_bytes());
            CString::new(pair)
        })
        .collect::<Result<_, _>>()
        .map_err(|_| invalid("the environment"))?;
    let dir = CString::new(dir.as_os_str().as_bytes()).map_err(|_| invalid("the directory"))?;
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // SAFETY: sigset_t is plain data; all-zero is a valid value for the calls to fill.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: fills a sigset this function owns.
    unsafe { libc::sigfillset(&mut all) };
    // Blocked around `clone`, so no handler of hive's runs in the child before it resets
    // them; the child restores the mask the parent had.
    // SAFETY: valid pointers to sigsets this function owns.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut mask) };
    let setup = Setup {
        path: path.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        dir: dir.as_ptr(),
        fds: [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()],
        mask,
        error: AtomicI32::new(0),
    };
    let mut stack = vec![0u8; 64 * 1024];
    // The stack grows down: the child starts at its top, 16-byte aligned.
    let top = {
        let end = stack.as_mut_ptr() as usize + stack.len();
        (end & !15) as *mut libc::c_void
    };
    // SAFETY: `child` only makes system calls on `setup`, which outlives it: with
    // CLONE_VFORK this thread waits until the child has called execve or exited.
    let pid = unsafe {
        libc::clone(
            child,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &setup as *const Setup as *mut libc::c_void,
        )
    };
    let clone_error = std::io::Error::last_os_error();
    // SAFETY: restores this thread's mask from a sigset this function owns.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut()) };
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    let failed = setup.error.load(Ordering::SeqCst);
    if failed != 0 {
        let mut status = 0;
        // SAFETY: reaps the child that just exited.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        return Err(std::io::Error::from_raw_os_error(failed));
    }
    Ok(Spawned { pid })
}

/// The child, until `execve`: system calls only.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `Setup`, alive while the parent waits (CLONE_VFORK).
    let setup = unsafe { &*(arg as *const Setup) };
    let fail = || -> libc::c_int {
        // SAFETY: errno of this thread of execution; _exit ends the child at once.
        unsafe {
            setup
                .error
                .store((*libc::__errno_location()).max(1), Ordering::SeqCst);
            libc::_exit(127)
        }
    };
    // SAFETY: system calls on values the parent prepared.
    unsafe {
        if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 || libc::setpgid(0, 0) != 0 {
            return fail();
        }
        // Handlers are hive's (tokio's): back to the defaults before anything can arrive;
        // SIGPIPE, which Rust ignores, too, as a shell expects.
        for signal in 1..libc::SIGRTMAX() {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut old) == 0
                && (old.sa_sigaction != libc::SIG_IGN || signal == libc::SIGPIPE)
                && old.sa_sigaction != libc::SIG_DFL
            {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &setup.mask, std::ptr::null_mut());
        for (target, &fd) in setup.fds.iter().enumerate() {
            if libc::dup2(fd, target as libc::c_int) < 0 {
                return fail();
            }
        }
        if libc::chdir(setup.dir) != 0 {
            return fail();
        }
        libc::execve(setup.path, setup.argv, setup.envp);
    }
    fail()
}

impl Spawned {
    /// The exit status once the program has ended (`None` while it runs).
    pub fn try_wait(&self) -> std::io::Result<Option<std::process::ExitStatus>> {
        use std::os::unix::process::ExitStatusExt;
        let mut status = 0;
        // SAFETY: waits for our own child without blocking.
        match unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } {
            0 => Ok(None),
            p if p == self.pid => Ok(Some(std::process::ExitStatus::from_raw(status))),
            _ => Err(std::io::Error::last_os_error()),
        }
    }

    /// Waits for the program to end (after it was told to).
    pub fn wait(&self) {
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}
