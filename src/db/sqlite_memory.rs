//! SQLite's memory allocator: mimalloc instead of the C library's malloc.
//!
//! SQLite allocates and frees for every cursor, record and page it touches.
//! Through glibc's malloc that was 5% of the server's instructions in the
//! ticket benchmark (callgrind); mimalloc, already the server's allocator
//! for Rust, does the same work in a fraction of that.

use std::ffi::{c_int, c_void};
use std::sync::Once;

use libmimalloc_sys as mi;
use libsqlite3_sys as ffi;

unsafe extern "C" fn malloc(size: c_int) -> *mut c_void {
    // SAFETY: SQLite never asks for a negative size; mimalloc returns null
    // when it cannot allocate, which SQLite handles.
    unsafe { mi::mi_malloc(size.max(0) as usize) }
}

unsafe extern "C" fn free(ptr: *mut c_void) {
    // SAFETY: SQLite frees only what `malloc`/`realloc` above gave it.
    unsafe { mi::mi_free(ptr) }
}

unsafe extern "C" fn realloc(ptr: *mut c_void, size: c_int) -> *mut c_void {
    // SAFETY: as for `malloc` and `free`.
    unsafe { mi::mi_realloc(ptr, size.max(0) as usize) }
}

unsafe extern "C" fn size(ptr: *mut c_void) -> c_int {
    // SAFETY: `ptr` came from this allocator; SQLite's allocations are far
    // below `c_int::MAX` (its own limit is 2 GiB).
    unsafe { mi::mi_usable_size(ptr) as c_int }
}

unsafe extern "C" fn roundup(size: c_int) -> c_int {
    (size + 7) & !7
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

/// Hands SQLite the allocator before its first connection opens. Later
/// calls do nothing. Should SQLite already be in use (a connection opened
/// elsewhere first), it keeps its own allocator: `sqlite3_config` refuses
/// to change it then, and nothing is lost but the speed.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(malloc),
            xFree: Some(free),
            xRealloc: Some(realloc),
            xSize: Some(size),
            xRoundup: Some(roundup),
            xInit: Some(init),
            xShutdown: Some(shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to a methods struct,
        // which SQLite copies before returning; it is refused (SQLITE_MISUSE) once SQLite is
        // initialised, so allocations never change hands midway.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods) };
        if rc != ffi::SQLITE_OK {
            tracing::debug!(rc, "SQLite keeps its own allocator (already initialised)");
        }
    });
}

#[cfg(test)]
mod tests {
    use diesel::{Connection, RunQueryDsl, sqlite::SqliteConnection};

    #[test]
    fn sqlite_allocates_from_mimalloc_once_installed() {
        super::install();
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::sql_query("CREATE TABLE t (x TEXT)")
            .execute(&mut conn)
            .unwrap();
        for _ in 0..100 {
            diesel::sql_query("INSERT INTO t VALUES (hex(randomblob(500)))")
                .execute(&mut conn)
                .unwrap();
        }
        // SAFETY: a block from SQLite's allocator, freed by it.
        unsafe {
            let block = libsqlite3_sys::sqlite3_malloc(64);
            assert!(!block.is_null());
            assert!(libmimalloc_sys::mi_is_in_heap_region(block));
            libsqlite3_sys::sqlite3_free(block);
        }
    }
}
