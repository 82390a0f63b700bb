//! Just enough of the ELF format to tell which machine a binary is for, whether it is static,
//! and to read a named section (cargo-auditable's `.dep-v0`).

use anyhow::{bail, Context, Result};
/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfInfo {
    pub machine: u16,
    /// A PT_INTERP program header names a dynamic loader; static binaries have none.
    pub has_interp: bool,
}

const PT_INTERP: u32 = 3;

/// Parses a 64-bit little-endian ELF header and its program headers.
pub fn parse(bytes: &[u8]) -> Result<ElfInfo> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        bail!("not an ELF file");
    }
    if bytes[4] != 2 {
        bail!("not a 64-bit ELF (EI_CLASS != ELFCLASS64)");
    }
    if bytes[5] != 1 {
        bail!("not a little-endian ELF");
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let machine = u16_at(18);
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().expect("8 bytes")) as usize;
    let phentsize = u16_at(54) as usize;
    let phnum = u16_at(56) as usize;
    let mut has_interp = false;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let Some(p_type) = bytes.get(at..at + 4) else {
            bail!("program header {i} lies outside the file");
        };
        if u32::from_le_bytes(p_type.try_into().expect("4 bytes")) == PT_INTERP {
            has_interp = true;
        }
    }
    Ok(ElfInfo {
        machine,
        has_interp,
    })
}

/// The bytes of the section called `name` of a 64-bit little-endian ELF file, if it has one.
pub fn section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    parse(bytes)?;
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| -> Result<u32> {
        let b = bytes
            .get(o..o + 4)
            .context("section header lies outside the file")?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let u64_at = |o: usize| -> Result<usize> {
        let b = bytes
            .get(o..o + 8)
            .context("section header lies outside the file")?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    };
    let (shoff, shentsize, shnum, shstrndx) = (
        u64_at(40)?,
        u16_at(58) as usize,
        u16_at(60) as usize,
        u16_at(62) as usize,
    );
    // A section header: name offset @0, type @4, file offset @24, size @32.
    let body = |i: usize| -> Result<(u32, &'a [u8])> {
        let at = shoff + i * shentsize;
        const SHT_NOBITS: u32 = 8; // .bss: takes memory, not file space
        if u32_at(at + 4)? == SHT_NOBITS {
            return Ok((u32_at(at)?, &[]));
        }
        let (offset, size) = (u64_at(at + 24)?, u64_at(at + 32)?);
        let data = bytes
            .get(offset..offset.saturating_add(size))
            .with_context(|| format!("section {i} lies outside the file"))?;
        Ok((u32_at(at)?, data))
    };
    if shnum == 0 || shstrndx >= shnum {
        return Ok(None);
    }
    let (_, names) = body(shstrndx)?;
    for i in 0..shnum {
        let (name_at, data) = body(i)?;
        let this = names
            .get(name_at as usize..)
            .and_then(|n| n.split(|b| *b == 0).next())
            .unwrap_or_default();
        if this == name.as_bytes() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// `aarch64`, `x86-64`, or the number.
pub fn machine_name(machine: u16) -> String {
    match machine {
        183 => "aarch64".into(),
        62 => "x86-64".into(),
        40 => "arm".into(),
        3 => "x86".into(),
        n => format!("e_machine {n}"),
    }
}

/// A minimal ELF64 header with `phnum` program headers, for tests of the image checks.
#[doc(hidden)]
pub fn synthetic(machine: u16, interp: bool) -> Vec<u8> {
    let mut b = vec![0u8; 64 + 56];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    b[6] = 1;
    b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&1u16.to_le_bytes());
    let p_type: u32 = if interp { PT_INTERP } else { 1 }; // PT_LOAD
    b[64..68].copy_from_slice(&p_type.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_machine_and_static_linking() {
        let e = parse(&synthetic(183, false)).unwrap();
        assert_eq!((e.machine, e.has_interp), (183, false));
        let e = parse(&synthetic(62, true)).unwrap();
        assert_eq!((e.machine, e.has_interp), (62, true));
    }

    #[test]
    fn rejects_scripts_and_truncated_headers() {
        assert!(parse(b"#!/bin/sh\necho hi\n").is_err());
        let mut b = synthetic(62, false);
        b[56..58].copy_from_slice(&9u16.to_le_bytes());
        assert!(parse(&b).unwrap_err().to_string().contains("outside"));
    }

    #[test]
    fn finds_named_sections_of_a_real_binary() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let text = section(&me, ".text").unwrap().expect("a .text section");
        assert!(text.len() > 1000);
        assert_eq!(section(&me, ".no-such-section").unwrap(), None);
        assert_eq!(section(&synthetic(62, false), ".text").unwrap(), None);
    }

    #[test]
    fn reads_a_real_binary_of_this_machine() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let e = parse(&me).unwrap();
        let expected = if cfg!(target_arch = "x86_64") {
            62
        } else {
            183
        };
        assert_eq!(e.machine, expected);
    }
}
