//! The systemd user unit for the daemon, naming the program that prints it.

use std::path::Path;

use crate::error::{Error, ErrorKind};

/// The unit of `dist/cairn-daemon.service` with `program` (an absolute path) as the program.
pub fn daemon_unit(program: &Path) -> Result<String, Error> {
    let text = program.to_str().filter(|t| program.is_absolute() && !t.contains(['\n', '\r'])).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "cannot write a systemd unit for {}: systemd needs an absolute path in UTF-8 on one line; \
                 install cairn elsewhere (for example /usr/local/bin) and run it from there",
                program.display()
            ),
        )
    })?;
    Ok(include_str!("../../../../dist/cairn-daemon.service").replace("@CAIRN@", &quoted(text)))
}

/// `text` as one word of an `ExecStart=` line: `%` doubled (systemd's specifiers), and in
/// double quotes with `\` and `"` escaped when it holds anything but plain path characters.
fn quoted(text: &str) -> String {
    let text = text.replace('%', "%%");
    if text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_' | '+' | '%' | ':' | '@')) {
        return text;
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec_start(unit: &str) -> &str {
        unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap()
    }

    #[test]
    fn the_unit_names_the_program_as_systemd_reads_it() {
        let unit = daemon_unit(Path::new("/usr/bin/cairn")).unwrap();
        assert_eq!(exec_start(&unit), "/usr/bin/cairn daemon");
        assert!(!unit.contains("@CAIRN@") && unit.contains("[Install]"));
        let unit = daemon_unit(Path::new("/home/ann/My Apps/100%/ca\"irn")).unwrap();
        assert_eq!(exec_start(&unit), r#""/home/ann/My Apps/100%%/ca\"irn" daemon"#);
        let e = daemon_unit(Path::new("bin/cairn")).unwrap_err();
        assert!(e.to_string().contains("absolute path"), "{e}");
        assert!(daemon_unit(Path::new("/opt/a\nb/cairn")).is_err());
        use std::os::unix::ffi::OsStrExt;
        assert!(daemon_unit(Path::new(std::ffi::OsStr::from_bytes(b"/opt/\xff/cairn"))).is_err());
    }
}
