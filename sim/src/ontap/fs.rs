//! The file tree of a volume (and of each snapshot): paths relative to the volume root, files made of extents.
//!
//! Every extent has a random identity. Cloning a file (file clone, snapshot, FlexClone) copies extent identities
//! rather than data, so space accounting can count each extent once per volume: a fresh clone costs ~0 bytes.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A run of blocks with one identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    pub id: u64,
    pub len: u64,
}

impl Extent {
    pub fn fresh(len: u64) -> Extent {
        Extent {
            id: rand::random::<u64>(),
            len,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    File,
    Directory,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    pub kind: NodeKind,
    /// Logical size in bytes (0 for directories).
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extents: Vec<Extent>,
    pub unix_permissions: u32,
    pub inode: u64,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Writes the content has seen (a content version: a clone carries its source's count).
    #[serde(default, rename = "guestWrites", skip_serializing_if = "is_zero")]
    pub writes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Node {
    pub fn is_dir(&self) -> bool {
        self.kind == NodeKind::Directory
    }

    /// Bytes of storage this node's own extents cover.
    pub fn allocated(&self) -> u64 {
        self.extents.iter().map(|e| e.len).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    #[error("No such file or directory")]
    NotFound,
    #[error("File exists")]
    Exists,
    #[error("Not a directory")]
    NotADirectory,
    #[error("Is a directory")]
    IsADirectory,
    #[error("Directory not empty")]
    NotEmpty,
    #[error("Invalid path")]
    InvalidPath,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: String,
    pub path: String,
    pub kind: NodeKind,
    pub size: u64,
}

/// A tree keyed by normalised relative path (`images/100/vm-100-disk-0.raw`); the root (`""`) is implicit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FileTree {
    nodes: BTreeMap<String, Node>,
    #[serde(default)]
    next_inode: u64,
}

/// Normalises a relative path: strips leading/trailing `/`, collapses `//` and `.`; refuses `..`.
pub fn normalize(path: &str) -> Result<String, FsError> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(FsError::InvalidPath),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The parent directory of a normalised path (`""` for top-level entries).
pub fn parent_of(path: &str) -> &str {
    path.rfind('/').map(|i| &path[..i]).unwrap_or("")
}

/// The last component of a normalised path.
pub fn name_of(path: &str) -> &str {
    path.rfind('/').map(|i| &path[i + 1..]).unwrap_or(path)
}

impl FileTree {
    fn new_node(&mut self, kind: NodeKind, size: u64, extents: Vec<Extent>, perms: u32) -> Node {
        self.next_inode += 1;
        let now = Utc::now();
        Node {
            kind,
            size,
            extents,
            unix_permissions: perms,
            inode: 96 + self.next_inode,
            created: now,
            modified: now,
            writes: 0,
        }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// True for the root and for existing directories.
    pub fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.nodes.get(path).is_some_and(Node::is_dir)
    }

    pub fn exists(&self, path: &str) -> bool {
        path.is_empty() || self.nodes.contains_key(path)
    }

    /// Creates one directory; the parent must exist.
    pub fn mkdir(&mut self, path: &str, perms: u32) -> Result<(), FsError> {
        let path = normalize(path)?;
        if path.is_empty() || self.nodes.contains_key(&path) {
            return Err(FsError::Exists);
        }
        self.require_parent_dir(&path)?;
        let node = self.new_node(NodeKind::Directory, 0, Vec::new(), perms);
        self.nodes.insert(path, node);
        Ok(())
    }

    /// Creates a directory and any missing parents; existing directories are fine.
    pub fn mkdir_p(&mut self, path: &str, perms: u32) -> Result<(), FsError> {
        let path = normalize(path)?;
        let mut cur = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(part);
            match self.nodes.get(&cur) {
                Some(n) if n.is_dir() => {}
                Some(_) => return Err(FsError::NotADirectory),
                None => {
                    let node = self.new_node(NodeKind::Directory, 0, Vec::new(), perms);
                    self.nodes.insert(cur.clone(), node);
                }
            }
        }
        Ok(())
    }

    fn require_parent_dir(&self, path: &str) -> Result<(), FsError> {
        let parent = parent_of(path);
        if parent.is_empty() {
            return Ok(());
        }
        match self.nodes.get(parent) {
            Some(n) if n.is_dir() => Ok(()),
            Some(_) => Err(FsError::NotADirectory),
            None => Err(FsError::NotFound),
        }
    }

    /// Creates a new file of `size` bytes backed by fresh extents; the parent directory must exist.
    pub fn create_file(&mut self, path: &str, size: u64) -> Result<(), FsError> {
        let path = normalize(path)?;
        if path.is_empty() || self.nodes.contains_key(&path) {
            return Err(FsError::Exists);
        }
        self.require_parent_dir(&path)?;
        let extents = if size > 0 {
            vec![Extent::fresh(size)]
        } else {
            Vec::new()
        };
        let node = self.new_node(NodeKind::File, size, extents, 0o644);
        self.nodes.insert(path, node);
        Ok(())
    }

    /// Writes a file that shares the given extents (a clone); replaces an existing file when `overwrite`.
    pub fn put_clone(&mut self, path: &str, source: &Node, overwrite: bool) -> Result<(), FsError> {
        let path = normalize(path)?;
        match self.nodes.get(&path) {
            Some(n) if n.is_dir() => return Err(FsError::IsADirectory),
            Some(_) if !overwrite => return Err(FsError::Exists),
            _ => {}
        }
        self.require_parent_dir(&path)?;
        let mut node = self.new_node(
            NodeKind::File,
            source.size,
            source.extents.clone(),
            source.unix_permissions,
        );
        node.writes = source.writes;
        self.nodes.insert(path, node);
        Ok(())
    }

    /// Simulates writing `bytes` of new data into a file: adds a fresh extent (growing the file if needed).
    pub fn write(&mut self, path: &str, bytes: u64) -> Result<(), FsError> {
        let path = normalize(path)?;
        let node = self.nodes.get_mut(&path).ok_or(FsError::NotFound)?;
        if node.is_dir() {
            return Err(FsError::IsADirectory);
        }
        // The overwritten range no longer references the old extents; model that by trimming the oldest ones.
        let mut to_trim = bytes.min(node.size);
        while to_trim > 0 && !node.extents.is_empty() {
            let e = &mut node.extents[0];
            if e.len <= to_trim {
                to_trim -= e.len;
                node.extents.remove(0);
            } else {
                // Splitting an extent keeps the remainder shared with its other users under a new id only when
                // nobody else has it; for accounting purposes a fresh id for the remainder overcounts, so keep it.
                e.len -= to_trim;
                to_trim = 0;
            }
        }
        node.extents.push(Extent::fresh(bytes));
        node.writes += 1;
        node.size = node.size.max(node.allocated());
        node.modified = Utc::now();
        Ok(())
    }

    /// Removes a file or an empty directory.
    pub fn remove(&mut self, path: &str) -> Result<(), FsError> {
        let path = normalize(path)?;
        let node = self.nodes.get(&path).ok_or(FsError::NotFound)?;
        if node.is_dir() && self.children(&path).next().is_some() {
            return Err(FsError::NotEmpty);
        }
        self.nodes.remove(&path);
        Ok(())
    }

    /// Removes a file or a directory with everything below it.
    pub fn remove_recursive(&mut self, path: &str) -> Result<(), FsError> {
        let path = normalize(path)?;
        if path.is_empty() {
            self.nodes.clear();
            return Ok(());
        }
        if !self.nodes.contains_key(&path) {
            return Err(FsError::NotFound);
        }
        let prefix = format!("{path}/");
        self.nodes
            .retain(|k, _| k != &path && !k.starts_with(&prefix));
        Ok(())
    }

    /// Immediate children of a directory (normalised path; `""` = root), in name order.
    pub fn children<'a>(
        &'a self,
        dir: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(move |(k, _)| !k[prefix_len(dir)..].contains('/'))
    }

    /// Lists a directory.
    pub fn list(&self, dir: &str) -> Result<Vec<DirEntry>, FsError> {
        let dir = normalize(dir)?;
        if !self.exists(&dir) {
            return Err(FsError::NotFound);
        }
        if !self.is_dir(&dir) {
            return Err(FsError::NotADirectory);
        }
        Ok(self
            .children(&dir)
            .map(|(path, n)| DirEntry {
                name: name_of(path).to_string(),
                path: path.clone(),
                kind: n.kind.clone(),
                size: n.size,
            })
            .collect())
    }

    /// All nodes, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Sum of file sizes: what the files claim to hold.
    pub fn logical_used(&self) -> u64 {
        self.nodes.values().map(|n| n.size).sum()
    }

    /// Adds every extent of this tree to `seen`, returning the bytes of extents not seen before.
    pub fn add_unique_extents(&self, seen: &mut HashSet<u64>) -> u64 {
        let mut added = 0;
        for node in self.nodes.values() {
            for e in &node.extents {
                if seen.insert(e.id) {
                    added += e.len;
                }
            }
        }
        added
    }

    /// Records every extent of this tree as id → length; an extent partly overwritten in one file but whole in
    /// another counts with its largest length.
    pub fn extent_lengths(&self, out: &mut HashMap<u64, u64>) {
        for node in self.nodes.values() {
            for e in &node.extents {
                let len = out.entry(e.id).or_insert(0);
                *len = (*len).max(e.len);
            }
        }
    }
}

fn prefix_len(dir: &str) -> usize {
    if dir.is_empty() {
        0
    } else {
        dir.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_operations() {
        let mut t = FileTree::default();
        t.mkdir_p("images/100", 0o755).unwrap();
        t.create_file("images/100/a.raw", 100).unwrap();
        assert_eq!(t.create_file("images/100/a.raw", 1), Err(FsError::Exists));
        assert_eq!(t.create_file("images/101/a.raw", 1), Err(FsError::NotFound));
        let list = t.list("images").unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "100");
        assert_eq!(t.remove("images"), Err(FsError::NotEmpty));
        let src = t.get("images/100/a.raw").unwrap().clone();
        t.put_clone("images/100/b.raw", &src, false).unwrap();
        let mut seen = HashSet::new();
        assert_eq!(t.add_unique_extents(&mut seen), 100);
        assert_eq!(t.logical_used(), 200);
        t.remove_recursive("images").unwrap();
        assert!(t.is_empty());
    }
}
