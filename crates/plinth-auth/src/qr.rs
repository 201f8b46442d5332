//! QR codes as inline SVG, for enrolling an authenticator app without any image library.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Returns an SVG document drawing `text` as a QR code, or `None` if it is too long.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_svg() {
        let svg = super::qr_svg("otpauth://totp/Plinth:alice?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }
}
