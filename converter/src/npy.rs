//! The NumPy `.npy` format, for f32 tensors: reads little-endian `f4`, `f8`,
//! `i4`, `i8`, `u1` arrays in C order (converted to f32) and writes `<f4`.
//! [`read_raw`] keeps any numeric dtype's bytes, for constants whose element
//! type matters (int64 indices, shapes).

/// A tensor: shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f32>,
}

/// Why bytes are not a readable `.npy` array.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NpyError {
    /// Not an npy file.
    #[error("not a .npy file (bad magic)")]
    Magic,
    /// The header is malformed or truncated.
    #[error("malformed .npy header: {0}")]
    Header(String),
    /// A dtype this reader does not take.
    #[error(".npy dtype `{descr}` is not supported ({supported} are)")]
    Dtype {
        /// The array's dtype.
        descr: String,
        /// The dtypes the reader takes.
        supported: &'static str,
    },
    /// Fortran order.
    #[error(".npy arrays in Fortran order are not supported")]
    FortranOrder,
    /// The data does not match the shape.
    #[error(".npy data is {got} bytes, the shape needs {want}")]
    Size {
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        want: usize,
    },
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// The value of `'key': value` in a header dict, up to the next `,` outside
/// parentheses.
fn field<'h>(header: &'h str, key: &str) -> Result<&'h str, NpyError> {
    let start = header
        .find(&format!("'{key}'"))
        .ok_or_else(|| NpyError::Header(format!("no `{key}`")))?;
    let rest = header[start + key.len() + 2..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| NpyError::Header(format!("no `:` after `{key}`")))?
        .trim_start();
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Ok(rest[..i].trim()),
            _ => {}
        }
    }
    Err(NpyError::Header(format!("`{key}` is not terminated")))
}

/// An array as stored: its dtype, shape and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawArray {
    /// The dtype as NumPy writes it (`<f4`, `<i8`, `|b1`, ...): byte order,
    /// kind, width in bytes.
    pub descr: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major, little-endian.
    pub data: Vec<u8>,
}

/// The dtypes [`read_raw`] takes.
const RAW_DTYPES: &str = "little-endian or one-byte f, i, u, b";

/// Parses `.npy` bytes of any little-endian numeric dtype, keeping its bytes.
///
/// # Errors
///
/// An [`NpyError`] naming what is wrong.
pub fn read_raw(bytes: &[u8]) -> Result<RawArray, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(NpyError::Magic);
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(NpyError::Header(format!("version {v}"))),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| NpyError::Header("truncated".into()))?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| NpyError::Header("not text".into()))?;
    let descr = field(header, "descr")?.trim_matches(['\'', '"']);
    if field(header, "fortran_order")? != "False" {
        return Err(NpyError::FortranOrder);
    }
    let shape_text = field(header, "shape")?;
    let shape = shape_text
        .trim_matches(['(', ')'])
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| NpyError::Header(format!("shape {shape_text}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| NpyError::Header(format!("shape {shape_text} overflows")))?;
    let width = dtype_width(descr).ok_or_else(|| NpyError::Dtype {
        descr: descr.into(),
        supported: RAW_DTYPES,
    })?;
    let body = &bytes[end..];
    let want = count.saturating_mul(width);
    if body.len() != want {
        return Err(NpyError::Size {
            got: body.len(),
            want,
        });
    }
    Ok(RawArray {
        descr: descr.into(),
        shape,
        data: body.to_vec(),
    })
}

/// The width in bytes of a numeric dtype stored little-endian (or of one
/// byte, where order does not matter).
fn dtype_width(descr: &str) -> Option<usize> {
    let mut chars = descr.chars();
    let order = chars.next()?;
    let kind = chars.next()?;
    let width: usize = chars.as_str().parse().ok()?;
    let ordered = order == '<' || (order == '|' && width == 1);
    (ordered && "fiub".contains(kind) && width > 0).then_some(width)
}

/// Parses `.npy` bytes into f32 values.
///
/// # Errors
///
/// An [`NpyError`] naming what is wrong.
pub fn read(bytes: &[u8]) -> Result<Array, NpyError> {
    let raw = read_raw(bytes)?;
    let (width, decode): (usize, fn(&[u8]) -> f32) = match raw.descr.as_str() {
        "<f4" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "<f8" => (8, |b| {
            f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32
        }),
        "<i4" => (4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32),
        "<i8" => (8, |b| {
            i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32
        }),
        "|u1" => (1, |b| f32::from(b[0])),
        other => {
            return Err(NpyError::Dtype {
                descr: other.into(),
                supported: "little-endian f4, f8, i4, i8, u1",
            });
        }
    };
    let data = raw.data.chunks_exact(width).map(decode).collect();
    Ok(Array {
        shape: raw.shape,
        data,
    })
}

/// Encodes an f32 array as `.npy` (version 1, `<f4`, C order).
pub fn write(array: &Array) -> Vec<u8> {
    let dims: Vec<String> = array.shape.iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic, version, length and header end on a multiple of 64 bytes.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * array.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for x in &array.data {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for shape in [vec![], vec![3], vec![2, 3]] {
            let n = shape.iter().product::<usize>();
            let a = Array {
                shape,
                data: (0..n).map(|i| i as f32 * 0.5 - 1.0).collect(),
            };
            let bytes = write(&a);
            assert_eq!(
                (10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64,
                0
            );
            assert_eq!(read(&bytes).unwrap(), a);
        }
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert_eq!(read(b"nope"), Err(NpyError::Magic));
        let mut bytes = write(&Array {
            shape: vec![2],
            data: vec![1.0, 2.0],
        });
        bytes.pop();
        assert_eq!(read(&bytes), Err(NpyError::Size { got: 7, want: 8 }));
        let big = b"\x93NUMPY\x01\x00\x40\x00{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }       \n";
        assert!(matches!(
            read(big),
            Err(NpyError::Dtype { .. }) | Err(NpyError::Header(_))
        ));
    }
}
