import type { WeChatApi } from './api.ts';

/** One CLICK button: WeChat sends its key back as EventKey, which the bot takes as a button action. */
export interface MenuButton {
  type: 'click';
  name: string;
  key: string;
}

/**
 * The official account's custom menu: each button is a flows action (`m:…` starts that service
 * wherever the customer is). Top-level names are at most 16 bytes (4 Chinese characters + 1).
 */
export const OA_MENU: { button: MenuButton[] } = {
  button: [
    { type: 'click', name: '报修/报警', key: 'm:repair' },
    { type: 'click', name: '我的工单', key: 'm:mycases' },
    { type: 'click', name: '人工客服', key: 'm:human' },
  ],
};

/** Installs the menu (replacing the current one); returns a one-line summary. */
export async function installMenu(api: WeChatApi, menu = OA_MENU): Promise<string> {
  await api.post('/cgi-bin/menu/create', menu);
  return `menu installed: ${menu.button.map((b) => `${b.name} → ${b.key}`).join(', ')}`;
}
