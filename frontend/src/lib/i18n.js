/**
 * English and Simplified Chinese.  The language comes from a saved choice,
 * else from the browser's preferred languages; `setLocale` switches it and
 * remembers it.
 */

import { createI18n } from 'vue-i18n'
import en from '../locales/en.js'
import zh from '../locales/zh-CN.js'

export const LOCALES = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '简体中文' },
]
const KEY = 'sitesnap.locale'

export function pickLocale(saved, languages) {
  if (LOCALES.some((l) => l.code === saved)) return saved
  for (const lang of languages || []) {
    const low = String(lang).toLowerCase()
    if (low.startsWith('zh')) return 'zh-CN'
    if (low.startsWith('en')) return 'en'
  }
  return 'en'
}

export function createConsoleI18n() {
  let saved = null
  try {
    saved = globalThis.localStorage?.getItem(KEY)
  } catch {
    saved = null
  }
  const locale = pickLocale(saved, globalThis.navigator?.languages)
  globalThis.document.documentElement.lang = locale
  return createI18n({
    legacy: false,
    locale,
    fallbackLocale: 'en',
    messages: { en, 'zh-CN': zh },
    missingWarn: false,
    fallbackWarn: false,
  })
}

export function setLocale(i18n, code) {
  i18n.global.locale.value = code
  globalThis.document.documentElement.lang = code
  try {
    globalThis.localStorage.setItem(KEY, code)
  } catch {
    // private mode: the choice lasts for this page only
  }
}
