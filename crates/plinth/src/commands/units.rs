//! Sizes, CPU amounts, durations and ages as people type and read them.
//!
//! Memory follows Kubernetes: `Ki`/`Mi`/`Gi`/`Ti` (with or without a trailing `B`) are
//! powers of 1024, `K`/`M`/`G`/`T` (or `KB`, `MB`, …) powers of 1000, and a bare number is
//! bytes; units are case-insensitive and may follow a space. CPU is cores with up to three
//! decimals (`1.5`), or thousandths with `m` (`1500m`).

pub use plinth_core::runtime::{format_bytes, format_cpu};

/// Parses a memory size (`512MiB`, `2GiB`, `2G`, `1.5Gi`, `1048576`) into bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let invalid =
        || format!("`{text}` is not a size like 512MiB, 2GiB or 2G (G = 1000³ bytes, GiB = 1024³)");
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let multiplier: u64 = match unit {
        "" => 1,
        "k" => 1000,
        "m" => 1000_u64.pow(2),
        "g" => 1000_u64.pow(3),
        "t" => 1000_u64.pow(4),
        "ki" => 1 << 10,
        "mi" => 1 << 20,
        "gi" => 1 << 30,
        "ti" => 1 << 40,
        _ => return Err(invalid()),
    };
    let (whole, fraction) = split_decimal(number).ok_or_else(invalid)?;
    // Exact arithmetic: whole × multiplier + fraction digits × multiplier / 10^digits.
    let mut bytes = whole.checked_mul(multiplier).ok_or_else(invalid)?;
    if !fraction.is_empty() {
        let digits = u32::try_from(fraction.len()).map_err(|_| invalid())?;
        if digits > 9 {
            return Err(invalid());
        }
        let value: u64 = fraction.parse().map_err(|_| invalid())?;
        let scaled = u128::from(value) * u128::from(multiplier) / 10_u128.pow(digits);
        bytes = bytes
            .checked_add(u64::try_from(scaled).map_err(|_| invalid())?)
            .ok_or_else(invalid)?;
    }
    if bytes == 0 {
        return Err(format!("`{text}`: the size must be more than 0"));
    }
    Ok(bytes)
}

/// Parses a CPU amount in cores (`1.5`, `0.25`, `2`) or thousandths (`1500m`) into
/// thousandths of a core.
pub fn parse_cpu(text: &str) -> Result<u32, String> {
    let invalid =
        || format!("`{text}` is not a CPU amount like 1.5 (cores, up to 3 decimals) or 1500m");
    let trimmed = text.trim();
    let millis: u64 = if let Some(millis) = trimmed.strip_suffix('m') {
        if millis.is_empty() || !millis.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        millis.parse().map_err(|_| invalid())?
    } else {
        let (whole, fraction) = split_decimal(trimmed).ok_or_else(invalid)?;
        if fraction.len() > 3 {
            return Err(invalid());
        }
        let fraction_millis: u64 = format!("{fraction:0<3}").parse().map_err(|_| invalid())?;
        whole
            .checked_mul(1000)
            .and_then(|millis| millis.checked_add(fraction_millis))
            .ok_or_else(invalid)?
    };
    if millis == 0 {
        return Err(format!("`{text}`: the CPU amount must be more than 0"));
    }
    u32::try_from(millis).map_err(|_| invalid())
}

/// Splits `12.345` into (12, "345"); `None` unless digits with at most one dot.
fn split_decimal(number: &str) -> Option<(u64, &str)> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    Some((whole, fraction))
}

/// Formats a duration for tables: `850ms`, `12s`, `3m04s`, `2h05m`, `3d04h`.
pub fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let seconds = ms / 1000;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        3600..86_400 => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d{:02}h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

/// Formats how long ago `then_ms` was: `just now`, `12s ago`, `3m ago`, `2h ago`, `4d ago`.
pub fn format_age(then_ms: i64, now_ms: i64) -> String {
    let seconds = (now_ms - then_ms).max(0) / 1000;
    match seconds {
        0..2 => "just now".to_string(),
        2..60 => format!("{seconds}s ago"),
        60..3600 => format!("{}m ago", seconds / 60),
        3600..86_400 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86_400),
    }
}

/// Returns the current time in ms since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_kubernetes_units() {
        let cases = [
            ("512MiB", 512 << 20),
            ("2GiB", 2 << 30),
            ("2Gi", 2 << 30),
            ("2gib", 2 << 30),
            ("2 GiB", 2 << 30),
            ("1.5GiB", 3 << 29),
            ("2G", 2_000_000_000),
            ("2GB", 2_000_000_000),
            ("500M", 500_000_000),
            ("64k", 64_000),
            ("1Ti", 1 << 40),
            ("1048576", 1 << 20),
            ("0.5Ki", 512),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "GiB",
            "2XB",
            "1.2.3G",
            "-1G",
            "2 G B",
            "0",
            "0GiB",
            "99999999999Ti",
        ] {
            let error = parse_bytes(bad).unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
    }

    #[test]
    fn cpu_is_cores_with_up_to_three_decimals() {
        let cases = [
            ("1.5", 1500),
            ("2", 2000),
            ("0.25", 250),
            (".5", 500),
            ("0.001", 1),
            ("1500m", 1500),
            ("64", 64_000),
        ];
        for (text, millis) in cases {
            assert_eq!(parse_cpu(text), Ok(millis), "{text}");
        }
        for bad in ["", "1.2345", "abc", "1,5", "0", "0m", "m", "-1", "5000000"] {
            assert!(parse_cpu(bad).is_err(), "{bad}");
        }
        assert_eq!(format_cpu(1500), "1.5");
        assert_eq!(format_bytes(2 << 30), "2 GiB");
    }

    #[test]
    fn durations_and_ages_read_well() {
        assert_eq!(format_duration(850), "850ms");
        assert_eq!(format_duration(12_400), "12s");
        assert_eq!(format_duration(184_000), "3m04s");
        assert_eq!(format_duration(7_500_000), "2h05m");
        assert_eq!(format_duration(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
        assert_eq!(format_age(1_000, 1_500), "just now");
        assert_eq!(format_age(0, 12_000), "12s ago");
        assert_eq!(format_age(0, 3_600_000 * 5), "5h ago");
    }
}
