//! BLAKE3 Merkle tree over 32-byte leaf values (the ciphertext hashes of a session's chunks).
//!
//! - Domain separation: a leaf node is `BLAKE3(0x00 || value)`, an inner node
//!   `BLAKE3(0x01 || left || right)`, so no leaf can be passed off as an inner node.
//! - Odd node rule: **promote**. The last node of a level with an odd count moves up unchanged;
//!   it is never paired with a copy of itself (duplication makes `[a, b, c]` and `[a, b, c, c]`
//!   share a root).
//! - A proof is the list of sibling hashes from the leaf upwards. The verifier derives each
//!   sibling's side, and which levels were promotions, from the leaf's index and the leaf count,
//!   so a proof only verifies for the position it was made for. The root does not commit to the
//!   leaf count by itself: verifiers take the count from the anchor (which records it).

pub type Hash = [u8; 32];

/// A 32-byte hash from 64 hex digits; the error names `what`.
pub fn parse_hash(what: &str, text: &str) -> Result<Hash, String> {
    let bytes = lucid_runtime::ids::from_hex(text).map_err(|e| format!("{what}: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{what}: {} bytes, expected 32 (64 hex digits)", b.len()))
}

pub fn hex(hash: &Hash) -> String {
    lucid_runtime::ids::to_hex(hash)
}

pub fn leaf_node(value: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0x00]);
    h.update(value);
    *h.finalize().as_bytes()
}

pub fn inner_node(left: &Hash, right: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0x01]);
    h.update(left);
    h.update(right);
    *h.finalize().as_bytes()
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => inner_node(left, right),
            [promoted] => *promoted,
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

/// Every level from the leaf nodes up to the root.
fn levels(leaves: &[Hash]) -> Result<Vec<Vec<Hash>>, String> {
    if leaves.is_empty() {
        return Err("a Merkle tree needs at least one leaf".into());
    }
    let mut levels = vec![leaves.iter().map(leaf_node).collect::<Vec<_>>()];
    while levels.last().map_or(0, Vec::len) > 1 {
        let next = next_level(levels.last().expect("non-empty"));
        levels.push(next);
    }
    Ok(levels)
}

pub fn root(leaves: &[Hash]) -> Result<Hash, String> {
    Ok(levels(leaves)?.last().expect("at least one level")[0])
}

/// The sibling hashes that connect leaf `index` to the root.
pub fn prove(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, String> {
    if index >= leaves.len() as u64 {
        return Err(format!(
            "leaf index {index} out of range: the tree has {} leaves",
            leaves.len()
        ));
    }
    let levels = levels(leaves)?;
    let mut i = index as usize;
    let mut siblings = Vec::new();
    for level in &levels[..levels.len() - 1] {
        let sibling = i ^ 1;
        if sibling < level.len() {
            siblings.push(level[sibling]);
        }
        i /= 2;
    }
    Ok(siblings)
}

/// True when `siblings` connect `leaf` at `index` of a `leaf_count`-leaf tree to `root`.
pub fn verify(root: &Hash, leaf: &Hash, index: u64, leaf_count: u64, siblings: &[Hash]) -> bool {
    if index >= leaf_count {
        return false;
    }
    let (mut node, mut i, mut width) = (leaf_node(leaf), index, leaf_count);
    let mut rest = siblings.iter();
    while width > 1 {
        let has_sibling = i % 2 == 1 || i + 1 < width;
        if has_sibling {
            let Some(sibling) = rest.next() else {
                return false;
            };
            node = if i % 2 == 1 {
                inner_node(sibling, &node)
            } else {
                inner_node(&node, sibling)
            };
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    rest.next().is_none() && &node == root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u8) -> Vec<Hash> {
        (0..n).map(|i| *blake3::hash(&[i]).as_bytes()).collect()
    }

    #[test]
    fn single_leaf_root_is_its_leaf_node() {
        let l = leaves(1);
        assert_eq!(root(&l).unwrap(), leaf_node(&l[0]));
        assert!(prove(&l, 0).unwrap().is_empty());
        assert!(verify(&root(&l).unwrap(), &l[0], 0, 1, &[]));
    }

    #[test]
    fn odd_node_is_promoted_not_duplicated() {
        let l = leaves(3);
        let expected = inner_node(
            &inner_node(&leaf_node(&l[0]), &leaf_node(&l[1])),
            &leaf_node(&l[2]),
        );
        assert_eq!(root(&l).unwrap(), expected);
        let mut dup = l.clone();
        dup.push(l[2]);
        assert_ne!(root(&l).unwrap(), root(&dup).unwrap());
    }

    #[test]
    fn leaves_and_inner_nodes_are_domain_separated() {
        let l = leaves(2);
        let r = root(&l).unwrap();
        // The root's preimage as a leaf value does not give the root.
        assert_ne!(leaf_node(&r), r);
        assert_ne!(leaf_node(&l[0]), *blake3::hash(&l[0]).as_bytes());
    }

    #[test]
    fn every_proof_of_every_size_verifies() {
        for n in 1..=17u8 {
            let l = leaves(n);
            let r = root(&l).unwrap();
            for i in 0..n as u64 {
                let proof = prove(&l, i).unwrap();
                assert!(
                    verify(&r, &l[i as usize], i, n as u64, &proof),
                    "n={n} i={i}"
                );
            }
        }
    }

    #[test]
    fn proof_fails_for_another_leaf_index_count_or_root() {
        let l = leaves(7);
        let r = root(&l).unwrap();
        let proof = prove(&l, 2).unwrap();
        assert!(!verify(&r, &l[3], 2, 7, &proof), "other leaf");
        assert!(!verify(&r, &l[2], 3, 7, &proof), "other index");
        // A count that changes the leaf's path (leaf 2 of 3 is promoted, not paired).
        assert!(!verify(&r, &l[2], 2, 3, &proof), "other count");
        assert!(!verify(&leaf_node(&r), &l[2], 2, 7, &proof), "other root");
        assert!(
            !verify(&r, &l[2], 2, 7, &proof[..proof.len() - 1]),
            "short proof"
        );
        let mut long = proof.clone();
        long.push(r);
        assert!(!verify(&r, &l[2], 2, 7, &long), "long proof");
        assert!(!verify(&r, &l[2], 9, 7, &proof), "index past the end");
    }

    #[test]
    fn empty_tree_and_out_of_range_proofs_are_errors() {
        assert!(root(&[]).is_err());
        assert!(prove(&leaves(3), 3).unwrap_err().contains("out of range"));
    }

    #[test]
    fn parse_hash_names_the_field() {
        assert!(parse_hash("root", "abcd")
            .unwrap_err()
            .starts_with("root: 2 bytes"));
        assert_eq!(parse_hash("root", &"00".repeat(32)).unwrap(), [0u8; 32]);
    }
}
