//! UI languages: English and Simplified Chinese, chosen per user, defaulting
//! from `Accept-Language`. Texts live in `locales/*.yml` (rust-i18n).

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// The BCP 47 tag, also the locale file name and the `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name, shown in the language picker.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "简体中文",
        }
    }

    pub fn parse(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        match primary {
            "en" => Some(Lang::En),
            // Traditional-script tags still read Simplified better than English.
            "zh" => Some(Lang::ZhCn),
            _ => None,
        }
    }

    /// Picks the supported language the browser ranks highest.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("");
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag)
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, lang)| lang)
    }

    /// The text for `key` in this language.
    pub fn t<'a>(self, key: &'a str) -> Cow<'a, str> {
        rust_i18n::t!(key, locale = self.code())
    }

    /// The text for `key`, or `fallback` where there is none (words people
    /// entered, such as a resource's kind, that countersign may know).
    pub fn t_or<'a>(self, key: &str, fallback: &'a str) -> Cow<'a, str> {
        let text = rust_i18n::t!(key, locale = self.code());
        if text == key {
            Cow::Borrowed(fallback)
        } else {
            Cow::Owned(text.into_owned())
        }
    }

    /// The text for `key` with `%{name}` placeholders filled in.
    pub fn tf(self, key: &str, args: &[(&str, &str)]) -> String {
        fill(&self.t(key), args)
    }

    /// The text for a count of `n`: `key.one` for one, `key.other` for any
    /// other number, with `%{n}` filled in ("1 problem", "2 problems").
    pub fn tn(self, key: &str, n: usize) -> String {
        let form = if n == 1 { "one" } else { "other" };
        self.tf(&format!("{key}.{form}"), &[("n", &n.to_string())])
    }
}

/// `text` with each `%{name}` placeholder replaced by its value in `args`,
/// in one pass: values are not searched again (a value that contains
/// `%{…}` shows as written), and a name without a value stays as it is.
fn fill(text: &str, args: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(text.len() + args.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = text;
    while let Some(at) = rest.find("%{") {
        let (before, placeholder) = rest.split_at(at);
        out.push_str(before);
        let Some(end) = placeholder.find('}') else {
            rest = placeholder;
            break;
        };
        let name = &placeholder[2..end];
        match args.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&placeholder[..=end]),
        }
        rest = &placeholder[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once_and_unknown_ones_stay() {
        let args = [("who", "Ann %{what}"), ("what", "a change")];
        assert_eq!(
            fill("%{who} filed %{what} (%{unknown}) 100%{", &args),
            "Ann %{what} filed a change (%{unknown}) 100%{"
        );
        assert_eq!(fill("no placeholders", &args), "no placeholders");
        assert_eq!(fill("%{what}%{what}", &args), "a changea change");
        assert_eq!(
            fill("审批人：%{who}。", &[("who", "张三")]),
            "审批人：张三。"
        );
    }

    #[test]
    fn accept_language_picks_the_highest_ranked_supported_language() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Lang::ZhCn)
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR, en;q=0.5, zh;q=0.4"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("en;q=0.2, zh-TW;q=0.7"),
            Some(Lang::ZhCn)
        );
        assert_eq!(Lang::from_accept_language("fr, de"), None);
    }

    /// Every text of a catalog file, with its key.
    fn texts(file: &str) -> Vec<(String, String)> {
        fn walk(prefix: &str, value: &serde_yaml::Value, out: &mut Vec<(String, String)>) {
            match value {
                serde_yaml::Value::Mapping(map) => {
                    for (k, v) in map {
                        let k = k.as_str().map(str::to_string).unwrap_or_else(|| {
                            serde_yaml::to_string(k)
                                .unwrap_or_default()
                                .trim()
                                .to_string()
                        });
                        walk(&format!("{prefix}.{k}"), v, out);
                    }
                }
                serde_yaml::Value::String(text) => out.push((prefix.to_string(), text.clone())),
                _ => {}
            }
        }
        let text =
            std::fs::read_to_string(format!("{}/locales/{file}", env!("CARGO_MANIFEST_DIR")))
                .unwrap();
        let mut out = Vec::new();
        walk("", &serde_yaml::from_str(&text).unwrap(), &mut out);
        out
    }

    fn is_chinese(c: char) -> bool {
        ('\u{4e00}'..='\u{9fff}').contains(&c)
    }

    #[test]
    fn the_english_interface_has_no_chinese_glosses() {
        let glossed: Vec<(String, String)> = texts("en.yml")
            .into_iter()
            .filter(|(_, text)| text.chars().any(is_chinese))
            .collect();
        assert!(glossed.is_empty(), "{glossed:#?}");
    }

    #[test]
    fn chinese_sentences_use_full_width_punctuation() {
        let ascii: Vec<(String, String)> = texts("zh-CN.yml")
            .into_iter()
            .filter(|(_, text)| {
                let chars: Vec<char> = text.chars().collect();
                chars.windows(2).any(|w| {
                    let mark = |c: char| ",;?!()".contains(c) || c == ':';
                    (is_chinese(w[0]) && mark(w[1])) || (mark(w[0]) && is_chinese(w[1]))
                })
            })
            .collect();
        assert!(ascii.is_empty(), "{ascii:#?}");
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        fn keys(prefix: &str, value: &serde_yaml::Value, out: &mut Vec<String>) {
            if let serde_yaml::Value::Mapping(map) = value {
                for (k, v) in map {
                    let k = k.as_str().unwrap_or_default();
                    let path = if prefix.is_empty() {
                        k.to_string()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    keys(&path, v, out);
                }
            } else {
                out.push(prefix.to_string());
            }
        }
        let load = |file: &str| {
            let text =
                std::fs::read_to_string(format!("{}/locales/{file}", env!("CARGO_MANIFEST_DIR")))
                    .unwrap();
            let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            let mut out = Vec::new();
            keys("", &value, &mut out);
            out.retain(|k| k != "_version");
            out.sort();
            out
        };
        let en = load("en.yml");
        let zh = load("zh-CN.yml");
        let only_en: Vec<_> = en.iter().filter(|k| !zh.contains(k)).collect();
        let only_zh: Vec<_> = zh.iter().filter(|k| !en.contains(k)).collect();
        assert!(
            only_en.is_empty() && only_zh.is_empty(),
            "missing in zh-CN: {only_en:?}; missing in en: {only_zh:?}"
        );
    }

    #[test]
    fn texts_are_looked_up_per_language() {
        assert_eq!(Lang::En.t("nav.sign_out"), "Sign out");
        assert_eq!(Lang::ZhCn.t("nav.sign_out"), "退出登录");
        assert_eq!(
            Lang::En.tf("flash.user_created", &[("name", "ops1")]),
            "User ops1 created."
        );
    }
}
