// Strings in Chinese and English for the pages: the language the person
// chose before (localStorage), else the browser's, and a switch.
//
//   const i18n = makeI18n({ en: { hello: 'Hello {name}' }, zh: { hello: '你好，{name}' } }, 'storeedge.lang');
//   i18n.t('hello', { name: 'Li' });
//   i18n.onChange(render);

const LANGS = ['en', 'zh'];

function browserLang() {
  const list = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || 'en'];
  for (const l of list) {
    const s = String(l).toLowerCase();
    if (s.startsWith('zh')) return 'zh';
    if (s.startsWith('en')) return 'en';
  }
  return 'en';
}

export function makeI18n(strings, storageKey) {
  let saved = null;
  try { saved = storageKey ? localStorage.getItem(storageKey) : null; } catch (e) { /* storage off */ }
  let lang = LANGS.includes(saved) && strings[saved] ? saved : browserLang();
  if (!strings[lang]) lang = 'en';
  const cbs = new Set();

  const i18n = {
    get lang() { return lang; },

    // t looks key up in the current language, then in English; a key
    // nobody translated shows as itself, which a test or a reader notices.
    t(key, vars) {
      const s = (strings[lang] && strings[lang][key]) ?? (strings.en && strings.en[key]) ?? key;
      return String(s).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
    },

    setLang(l) {
      if (!strings[l] || l === lang) return;
      lang = l;
      try { if (storageKey) localStorage.setItem(storageKey, l); } catch (e) { /* storage off */ }
      for (const cb of cbs) {
        try { cb(lang); } catch (e) { console.error(e); }
      }
    },

    onChange(cb) {
      cbs.add(cb);
      return () => cbs.delete(cb);
    },

    // apply fills the static parts of a page: data-i18n (text),
    // data-i18n-label (aria-label), data-i18n-placeholder, data-i18n-title;
    // and sets <html lang>.
    apply(root = document) {
      if (root === document) document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
      for (const n of root.querySelectorAll('[data-i18n]')) n.textContent = i18n.t(n.dataset.i18n);
      for (const n of root.querySelectorAll('[data-i18n-label]')) n.setAttribute('aria-label', i18n.t(n.dataset.i18nLabel));
      for (const n of root.querySelectorAll('[data-i18n-placeholder]')) n.setAttribute('placeholder', i18n.t(n.dataset.i18nPlaceholder));
      for (const n of root.querySelectorAll('[data-i18n-title]')) n.setAttribute('title', i18n.t(n.dataset.i18nTitle));
    },
  };
  return i18n;
}
