// Debian's headless Chromium through playwright-core for the page tests: launch, open the page
// through its token URL (which sets the cookie), the labels of both languages, and screenshots
// of a screen in Chinese and in English (the page's own i18n module switched in place, so an
// open dialog stays open) under target/ui-screenshots/.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO } from './stack.js';

export const SHOTS = path.join(REPO, 'target', 'ui-screenshots');

/** The labels the tests look for, as the page shows them. */
export const L = {
  zh: {
    backup: '备份数据', restore: '恢复备份', next: '下一步', back: '返回', cancel: '取消', startBackup: '开始备份',
    verify: '校验', startRestore: '确认恢复', cancelJob: '取消任务', dismiss: '知道了', toOther: 'Switch to English',
    backupOk: '备份完成', restoreOk: '恢复完成', cancelled: '已取消', backingUp: '正在备份', restoring: '正在恢复',
    refused: '此备份文件被拒绝', verified: '校验通过', busy: '此模块已有任务在运行', download: '下载备份文件',
    saveTo: '保存位置', uploadFile: '备份文件（.tar.gz、.tar.zst，加密的以 .age 结尾）', typeId: (m) => `请输入模块名 ${m} 以确认`,
    folder: '备份文件夹', change: '更改', save: '保存', secrets: '同时恢复备份中的',
  },
  en: {
    backup: 'Back up data', restore: 'Restore backup', next: 'Next', back: 'Back', cancel: 'Cancel', startBackup: 'Start backup',
    verify: 'Verify', startRestore: 'Restore now', cancelJob: 'Cancel job', dismiss: 'Dismiss', toOther: '切换到中文',
    backupOk: 'Backup finished', restoreOk: 'Restore finished', cancelled: 'Cancelled', backingUp: 'Backing up', restoring: 'Restoring',
    refused: 'This archive is refused', verified: 'Verified', busy: 'A job of this module is running already', download: 'Download the archive',
    saveTo: 'Save to', uploadFile: 'Archive (.tar.gz or .tar.zst; .age after either when encrypted)', typeId: (m) => `Type the module name ${m} to confirm`,
    folder: 'Backup folder', change: 'Change', save: 'Save', secrets: 'Also restore the archived',
  },
};

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A new tab (own context unless `context` is given) on the page, logged in through the token
 * URL, in `lang`. Page errors (uncaught exceptions) are collected in `page.errors`.
 */
export async function openPage(browser, server, { lang = 'zh', context } = {}) {
  const ctx = context || await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(server.url);
  await page.locator('ab-module-card .ab-facts dd').first().waitFor({ timeout: 90000 });
  if (lang !== await pageLang(page)) {
    await page.getByRole('button', { name: L[await pageLang(page)].toOther, exact: true }).click();
  }
  return page;
}

export async function pageLang(page) {
  return page.evaluate(() => (document.documentElement.lang.startsWith('zh') ? 'zh' : 'en'));
}

/** Switches the page's language in place (works with a modal dialog open). */
export async function setLang(page, lang) {
  await page.evaluate((l) => import('/assets/i18n.js').then((m) => m.setLang(l)), lang);
}

/** target/ui-screenshots/{zh,en}-NAME.png of the current screen; the page keeps its language. */
export async function shots(page, name, { fullPage = false } = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const was = await pageLang(page);
  for (const lang of [was, was === 'zh' ? 'en' : 'zh']) {
    await setLang(page, lang);
    await page.screenshot({ path: path.join(SHOTS, `${lang}-${name}.png`), fullPage });
  }
  await setLang(page, was);
}

/** The card of `module`. */
export function card(page, module) {
  return page.locator(`ab-module-card[module="${module}"]`);
}
