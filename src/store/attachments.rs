//! Files uploaded with a form or a comment. The bytes are kept once per
//! content under `DATA_DIR/attachments/<first two hex>/<sha-256>`, written
//! as they arrive (never whole in memory) to a temporary file that is
//! renamed into place when complete; a row is one upload — name, type,
//! size, uploader — and, once filed, the ticket (and field) it belongs
//! to. Reading one is for whoever may read its ticket; an upload not yet
//! filed only for its uploader.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, AttachmentId, UserId};
use crate::db::schema::attachments as at;
use crate::db::stamp::At;
use crate::flow::form::Upload;

/// The largest file countersign takes by default, in MiB
/// (`ATTACHMENT_MAX_MB`).
pub const DEFAULT_MAX_MB: u32 = 100;

/// An upload, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = at)]
pub struct Attachment {
    pub id: AttachmentId,
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    pub name: String,
    pub uploaded_by: UserId,
    pub uploaded_at: NaiveDateTime,
    pub apply_id: Option<ApplyId>,
    pub field_key: Option<String>,
}

/// Where the bytes live: a folder of files named by their SHA-256.
#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
}

/// A file being written as it arrives: its bytes so far, hashed and
/// counted, in a temporary file of its own.
pub struct Incoming {
    file: std::fs::File,
    path: PathBuf,
    hash: Sha256,
    size: u64,
    limit: u64,
}

/// Why an upload was not kept.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    #[error("empty")]
    Empty,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A complete upload: its content's hash and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub sha256: String,
    pub size: i64,
}

impl Blobs {
    pub fn new(data_dir: &Path) -> Blobs {
        Blobs {
            root: data_dir.join("attachments"),
        }
    }

    /// A new file to write, refused past `limit` bytes.
    pub fn incoming(&self, limit: u64) -> std::io::Result<Incoming> {
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let path = tmp.join(format!("{}.part", crate::token::random_hex::<16>()));
        let file = std::fs::File::create(&path)?;
        Ok(Incoming {
            file,
            path,
            hash: Sha256::new(),
            size: 0,
            limit,
        })
    }

    /// Where the content with this hash lives.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        let (head, _) = sha256.split_at(2.min(sha256.len()));
        self.root.join(head).join(sha256)
    }
}

impl Incoming {
    /// The next bytes; refused (and the file removed) past the limit.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), Refused> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(Refused::TooLarge(self.limit));
        }
        self.hash.update(chunk);
        self.file.write_all(chunk)?;
        Ok(())
    }

    /// The file complete: moved into place under its hash (a copy
    /// already there is kept, this one removed).
    pub fn finish(self, blobs: &Blobs) -> Result<Stored, Refused> {
        if self.size == 0 {
            return Err(Refused::Empty);
        }
        self.file.sync_all()?;
        let sha256 = hex::encode(self.hash.clone().finalize());
        let dest = blobs.path_of(&sha256);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if dest.exists() {
            std::fs::remove_file(&self.path)?;
        } else {
            std::fs::rename(&self.path, &dest)?;
        }
        Ok(Stored {
            sha256,
            size: self.size as i64,
        })
    }
}

impl Drop for Incoming {
    /// A file not finished is not kept.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A file's name as kept: its last path part (no folders, whichever way
/// they are written), without control characters, at most 200 characters;
/// "file" when nothing is left.
pub fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    // No control characters, and none that reorder or hide text
    // ("invoice\u{202e}fdp.exe" would read as "invoiceexe.pdf").
    let hidden = |c: &char| matches!(*c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF);
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !hidden(c))
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_string();
    if cleaned.is_empty() {
        "file".to_string()
    } else {
        cleaned
    }
}

/// A content type as kept: the declared one when it is a plain
/// `type/subtype`, else `application/octet-stream`.
pub fn clean_type(declared: Option<&str>) -> String {
    let declared = declared
        .and_then(|d| d.split(';').next())
        .map(str::trim)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ok = declared.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && declared
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/.+-_".contains(c))
    });
    if ok {
        declared
    } else {
        "application/octet-stream".to_string()
    }
}

/// Records an upload by `uploader`, on no ticket yet.
pub fn record(
    conn: &mut DbConn,
    stored: &Stored,
    name: &str,
    content_type: &str,
    uploader: UserId,
) -> StoreResult<AttachmentId> {
    Ok(crate::direct!(conn, |c| diesel::insert_into(at::table)
        .values((
            at::sha256.eq(&stored.sha256),
            at::size.eq(stored.size),
            at::content_type.eq(content_type),
            at::name.eq(name),
            at::uploaded_by.eq(uploader),
            at::uploaded_at.eq(At(now())),
        ))
        .returning(at::id)
        .get_result(c))?)
}

/// Whether `uploader` may upload now: an active person.
pub fn may_upload(conn: &mut DbConn, uploader: UserId) -> StoreResult<bool> {
    use crate::db::schema::users;
    Ok(crate::direct!(conn, |c| users::table
        .find(uploader)
        .select(users::active)
        .first::<bool>(c)
        .optional())?
    .unwrap_or(false))
}

/// One upload.
pub fn get(conn: &mut DbConn, id: AttachmentId) -> StoreResult<Option<Attachment>> {
    Ok(crate::direct!(conn, |c| at::table
        .find(id)
        .select(Attachment::as_select())
        .first(c)
        .optional())?)
}

/// An upload a form by `uploader` may use: theirs and on no ticket yet,
/// or already on ticket `apply`.
pub fn usable(
    conn: &mut DbConn,
    id: AttachmentId,
    uploader: UserId,
    apply: Option<ApplyId>,
) -> StoreResult<Option<Upload>> {
    Ok(get(conn, id)?
        .filter(|a| match (a.apply_id, apply) {
            (None, _) => a.uploaded_by == uploader,
            (Some(on), Some(this)) => on == this,
            (Some(_), None) => false,
        })
        .map(|a| Upload {
            name: a.name,
            size: a.size,
        }))
}

/// Puts the uploads `ids` on ticket `apply` (under `field`, or a
/// comment's when none): each must be `uploader`'s on no ticket yet, or
/// already this ticket's. Whether all of them were.
pub fn attach(
    conn: &mut DbConn,
    apply: ApplyId,
    field: Option<&str>,
    ids: &[AttachmentId],
    uploader: UserId,
) -> StoreResult<bool> {
    if ids.is_empty() {
        return Ok(true);
    }
    crate::direct!(conn, |c| diesel::update(
        crate::db::schema::applies::table
            .find(apply)
            .filter(crate::db::schema::applies::attached.eq(false)),
    )
    .set(crate::db::schema::applies::attached.eq(true))
    .execute(c))?;
    for id in ids {
        let taken = crate::direct!(conn, |c| diesel::update(
            at::table
                .find(id)
                .filter(at::apply_id.is_null())
                .filter(at::uploaded_by.eq(uploader)),
        )
        .set((at::apply_id.eq(apply), at::field_key.eq(field)))
        .execute(c))?;
        if taken == 0 {
            let ours: i64 = crate::direct!(conn, |c| at::table
                .find(id)
                .filter(at::apply_id.eq(apply))
                .count()
                .get_result(c))?;
            if ours == 0 {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The uploads on ticket `apply`, in the order they were sent.
pub fn of_ticket(conn: &mut DbConn, apply: ApplyId) -> StoreResult<Vec<Attachment>> {
    Ok(crate::direct!(conn, |c| at::table
        .filter(at::apply_id.eq(apply))
        .order(at::id)
        .select(Attachment::as_select())
        .load(c))?)
}

/// Whether `me` may download `file`: whoever may read its ticket, or its
/// uploader while it is on none.
pub fn may_download(
    conn: &mut DbConn,
    file: &Attachment,
    me: UserId,
    admin: bool,
) -> StoreResult<bool> {
    match file.apply_id {
        None => Ok(file.uploaded_by == me),
        Some(apply) => super::ticket_views::may_see(conn, apply, me, admin),
    }
}

/// The names of the files a form being filled in by `uploader` holds in
/// its file `fields` (`raw`: as sent), by id as sent: only their own
/// uploads on no ticket yet.
pub fn names_for(
    conn: &mut DbConn,
    fields: &[&crate::flow::FieldDef],
    raw: &std::collections::HashMap<String, Vec<String>>,
    uploader: UserId,
) -> StoreResult<std::collections::HashMap<String, String>> {
    let mut names = std::collections::HashMap::new();
    for field in fields
        .iter()
        .filter(|f| f.kind == crate::flow::FieldKind::File)
    {
        for id in raw.get(&field.key).into_iter().flatten() {
            let Ok(n) = id.trim().parse::<i32>() else {
                continue;
            };
            if let Some(upload) = usable(conn, AttachmentId(n), uploader, None)? {
                names.insert(id.trim().to_string(), upload.name);
            }
        }
    }
    Ok(names)
}

/// The ids a file field's value holds.
pub fn ids_in(value: &serde_json::Value) -> Vec<AttachmentId> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_i64())
        .filter_map(|v| i32::try_from(v).ok())
        .map(AttachmentId)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_keeps_its_last_part_without_folders_or_control_characters() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\me\\报价单.pdf"), "报价单.pdf");
        assert_eq!(clean_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(clean_name("/"), "file");
        assert_eq!(clean_name(".htaccess"), "htaccess");
        assert_eq!(clean_name("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
    }

    #[test]
    fn a_content_type_is_kept_only_when_plain() {
        assert_eq!(clean_type(Some("application/pdf")), "application/pdf");
        assert_eq!(clean_type(Some("Text/HTML; charset=utf-8")), "text/html");
        assert_eq!(clean_type(Some("nonsense")), "application/octet-stream");
        assert_eq!(clean_type(None), "application/octet-stream");
    }

    #[test]
    fn a_file_is_kept_once_by_its_hash_and_refused_past_its_limit() {
        let dir =
            std::env::temp_dir().join(format!("cs-blobs-{}", crate::token::random_hex::<6>()));
        let blobs = Blobs::new(&dir);
        let mut one = blobs.incoming(10).unwrap();
        one.write(b"hello").unwrap();
        let stored = one.finish(&blobs).unwrap();
        assert_eq!(stored.size, 5);
        assert_eq!(
            std::fs::read(blobs.path_of(&stored.sha256)).unwrap(),
            b"hello"
        );
        let mut big = blobs.incoming(4).unwrap();
        assert!(matches!(big.write(b"hello"), Err(Refused::TooLarge(4))));
        drop(big);
        let empty = blobs.incoming(4).unwrap();
        assert!(matches!(empty.finish(&blobs), Err(Refused::Empty)));
        let left: Vec<_> = std::fs::read_dir(dir.join("attachments/tmp"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "nothing half-written is left");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
