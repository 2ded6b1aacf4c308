//! Runnable examples of encx; see README.md. Shared pieces of the examples live here.
#![forbid(unsafe_code)]

use std::path::Path;

use encx::{Error, MasterKey};

/// Loads the local master key from `path`, or generates one and saves it there, warning that
/// it must be kept: without it, the data it protects is gone for good.
pub fn load_or_create_master_key(path: &Path) -> encx::Result<MasterKey> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return MasterKey::from_base64("v1", &text);
    }
    let key = MasterKey::generate("v1")?;
    std::fs::write(path, key.expose_base64().as_bytes())
        .map_err(|e| Error::config(format!("cannot write {}: {e}", path.display())))?;
    eprintln!(
        "WARNING: generated a new master key in {} — keep it safe and out of version control; \
         without it every record it protects is unreadable.",
        path.display()
    );
    Ok(key)
}

/// A stored value for display: text as text, bytes as a short hex prefix.
pub fn show_cell(bytes: Option<Vec<u8>>) -> String {
    match bytes {
        None => "NULL".to_string(),
        Some(b) if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') => {
            format!("{:?}", String::from_utf8_lossy(&b))
        }
        Some(b) => {
            let hex: String = b.iter().take(12).map(|c| format!("{c:02x}")).collect();
            format!("{hex}… ({} bytes)", b.len())
        }
    }
}
