/**
 * Every text the bot says, zh-CN first with English beside it. Flows refer to keys; the policy
 * may override any text per company. `{name}` placeholders are filled by `translate`.
 */
const zh = {
  'menu.title': '您好，这里是{company}客服。请选择要办理的业务（回复编号或点击按钮）：',
  'menu.enquiry': '咨询留言',
  'menu.human': '人工客服',
  'menu.help': '使用帮助',
  'menu.notUnderstood': '抱歉，没有理解您的意思。',
  'help.text':
    '使用帮助：\n· 回复编号或点击按钮选择\n· 随时回复「取消」结束当前办理，「返回」回到上一步，「人工」转人工客服，「菜单」回到主菜单\n· 闻到燃气味请立即回复「漏气」\n· 客服热线 {hotline}（24 小时）',
  'dialogue.cancelled': '已取消当前办理。',
  'dialogue.backAtStart': '已经是第一步了。',
  'dialogue.staleButton': '这个按钮已失效，请按当前的问题回答。',
  'dialogue.chooseOne': '请从下列选项中选择（回复编号或点击按钮）。',
  'dialogue.textExpected': '请用文字回答这个问题。',
  'dialogue.tooLong': '内容太长了（最多 {max} 字），请简要说明。',
  'dialogue.empty': '没有收到内容，请再说一遍。',
  'dialogue.flowChanged': '业务流程已更新，请重新开始。',
  'dialogue.idleReminder': '您还在吗？回复任意内容继续办理，回复「取消」结束。',
  'dialogue.expired': '由于长时间未回复，本次办理已结束。需要时请随时发消息给我们。',
  'dialogue.error': '抱歉，系统暂时出了点问题，我们已记录。请稍后再试，或拨打客服热线 {hotline}。',
  'choice.back': '返回',
  'choice.cancel': '取消',
  'choice.confirm': '确认提交',
  'choice.edit': '重新填写',
  'leak.safety':
    '【燃气泄漏安全提示】请立即：\n1. 不要开关任何电器、电灯，不要拔插电源；\n2. 熄灭一切火源，严禁明火和吸烟；\n3. 不要在室内打电话；\n4. 打开门窗通风；\n5. 关闭燃气表前阀门；\n6. 迅速离开现场，到室外安全处拨打抢修电话 {emergencyHotline}。',
  'human.opened':
    '已为您转接人工客服，工单号 {caseNo}。客服人员将在 {due} 前与您联系；紧急情况请拨打 {hotline}。',
  'human.alreadyOpen': '您的人工客服请求（工单号 {caseNo}）已在处理中，请稍候。',
  'enquiry.topic': '请选择咨询类别：',
  'enquiry.topic.billing': '燃气费与账户',
  'enquiry.topic.safety': '安全用气',
  'enquiry.topic.business': '业务办理',
  'enquiry.topic.other': '其他',
  'enquiry.description': '请简要描述您要咨询的问题（至少 2 个字）：',
  'enquiry.descriptionShort': '描述太短了，请至少写 2 个字。',
  'enquiry.phone': '请留下联系电话（手机或座机）：',
  'enquiry.phoneInvalid':
    '电话号码格式不正确，请输入 11 位手机号或带区号的座机号，如 13812345678 或 0571-87654321。',
  'enquiry.confirm': '请确认您的留言：\n类别：{topic}\n内容：{description}\n电话：{phone}',
  'enquiry.opened': '留言已提交，工单号 {caseNo}。我们将在 {due} 前答复您。',
  'case.card.title': '【{kind}】工单 {caseNo}',
  'case.card.kind.human': '转人工',
  'case.card.kind.enquiry': '咨询留言',
  'case.card.category': '类别',
  'case.card.priority': '优先级',
  'case.card.state': '状态',
  'case.card.phone': '电话',
  'case.card.address': '地址',
  'case.card.summary': '内容',
  'case.card.assignee': '派给',
  'case.card.clock': '时限',
  'case.card.clockLeft': '{clock}：剩 {left}',
  'case.card.clockOver': '{clock}：已超时 {left}',
  'case.state.open': '待接单',
  'case.state.taken': '处理中',
  'case.state.closed': '已办结',
  'case.action.take': '接单',
  'case.action.close': '办结',
  'clock.respond': '响应',
  'clock.reply': '答复',
  'staff.taken': '{staff} 已接单：工单 {caseNo}。',
  'staff.takenPrivate': '您已接单 {caseNo}。客户电话：{phone}{address}',
  'staff.closed': '{staff} 已办结工单 {caseNo}。',
  'staff.replied': '已将答复发送给工单 {caseNo} 的客户。',
  'staff.notStaff': '您不是本班组的工作人员，不能操作这个工单。此次操作已记录。',
  'staff.notFound': '没有找到工单 {caseNo}。',
  'staff.alreadyTaken': '工单 {caseNo} 已由 {staff} 接单。',
  'staff.alreadyClosed': '工单 {caseNo} 已办结。',
  'staff.notTaken': '工单 {caseNo} 还没有人接单，请先接单。',
  'staff.unboundGroup': '本群尚未绑定班组，机器人不会在此派单。',
  'staff.usage':
    '班组命令：\n接单 <工单号>\n回复 <工单号> <内容>（答复客户）\n办结 <工单号>\n工单 <工单号>（查看）',
  'staff.unknownCommand': '无法识别的命令。',
  'staff.replyEmpty': '请在工单号后写上要答复客户的内容。',
  'manager.only': '只有管理人员可以查询统计。',
  'manager.stats':
    '今日统计（{date}）：\n新建工单 {created}\n待接单 {open}\n处理中 {taken}\n已办结 {closed}\n超时 {overdue}',
  'customer.taken': '您的工单 {caseNo} 已由工作人员 {staff} 接单处理。',
  'customer.reply': '关于工单 {caseNo} 的答复：\n{text}',
  'customer.closed': '您的工单 {caseNo} 已办结。感谢您的耐心！',
  'deadline.missed': '⚠️ 工单 {caseNo} 的{clock}时限已到（{due}），请尽快处理。',
  'deadline.escalated': '⚠️ 升级：工单 {caseNo} 的{clock}时限已超时 {late}，负责人：{assignee}。',
  nobody: '无人',
  'duration.minutes': '{n} 分钟',
  'duration.hours': '{h} 小时 {m} 分钟',
  'duration.days': '{d} 天 {h} 小时',
} as const;

export type TextKey = keyof typeof zh;

const en: Record<TextKey, string> = {
  'menu.title':
    'Hello, this is {company} customer service. What can we do for you? (reply with a number or tap a button)',
  'menu.enquiry': 'Ask a question',
  'menu.human': 'Talk to a person',
  'menu.help': 'Help',
  'menu.notUnderstood': "Sorry, I didn't understand that.",
  'help.text':
    'Help:\n· Reply with a number or tap a button\n· Any time: "cancel" stops, "back" goes one step back, "human" reaches a person, "menu" shows the main menu\n· If you smell gas, reply "gas leak" at once\n· Hotline {hotline} (24 h)',
  'dialogue.cancelled': 'Cancelled.',
  'dialogue.backAtStart': 'This is already the first step.',
  'dialogue.staleButton': 'That button has expired; please answer the current question.',
  'dialogue.chooseOne': 'Please choose one of the options (reply with a number or tap a button).',
  'dialogue.textExpected': 'Please answer this question in text.',
  'dialogue.tooLong': 'That is too long (at most {max} characters); please keep it short.',
  'dialogue.empty': 'I received nothing; please say it again.',
  'dialogue.flowChanged': 'This service has been updated; please start again.',
  'dialogue.idleReminder': 'Are you still there? Reply anything to continue, or "cancel" to stop.',
  'dialogue.expired': 'This conversation has ended after a long pause. Message us any time.',
  'dialogue.error':
    'Sorry, something went wrong on our side and it has been logged. Please try again later or call {hotline}.',
  'choice.back': 'Back',
  'choice.cancel': 'Cancel',
  'choice.confirm': 'Submit',
  'choice.edit': 'Start over',
  'leak.safety':
    'GAS LEAK SAFETY — do this now:\n1. Do not switch any light or appliance on or off, do not unplug anything;\n2. Put out every flame, do not smoke;\n3. Do not use a phone indoors;\n4. Open doors and windows;\n5. Close the valve before the gas meter;\n6. Leave at once and call the emergency line {emergencyHotline} from outside.',
  'human.opened':
    'You are being put through to a person, case {caseNo}. Staff will contact you before {due}; in an emergency call {hotline}.',
  'human.alreadyOpen': 'Your request for a person (case {caseNo}) is being handled, please wait.',
  'enquiry.topic': 'What is your question about?',
  'enquiry.topic.billing': 'Bills and account',
  'enquiry.topic.safety': 'Gas safety',
  'enquiry.topic.business': 'Services and applications',
  'enquiry.topic.other': 'Other',
  'enquiry.description': 'Please describe your question (at least 2 characters):',
  'enquiry.descriptionShort': 'That is too short; please write at least 2 characters.',
  'enquiry.phone': 'Your contact phone number (mobile or landline):',
  'enquiry.phoneInvalid':
    'That phone number is not valid: give an 11-digit mobile or a landline with area code, e.g. 13812345678 or 0571-87654321.',
  'enquiry.confirm': 'Please confirm your question:\nTopic: {topic}\nQuestion: {description}\nPhone: {phone}',
  'enquiry.opened': 'Your question is registered as case {caseNo}. We will answer before {due}.',
  'case.card.title': '[{kind}] Case {caseNo}',
  'case.card.kind.human': 'Person requested',
  'case.card.kind.enquiry': 'Question',
  'case.card.category': 'Category',
  'case.card.priority': 'Priority',
  'case.card.state': 'State',
  'case.card.phone': 'Phone',
  'case.card.address': 'Address',
  'case.card.summary': 'Details',
  'case.card.assignee': 'Assigned to',
  'case.card.clock': 'Clock',
  'case.card.clockLeft': '{clock}: {left} left',
  'case.card.clockOver': '{clock}: overdue by {left}',
  'case.state.open': 'Waiting',
  'case.state.taken': 'In progress',
  'case.state.closed': 'Closed',
  'case.action.take': 'Take',
  'case.action.close': 'Close',
  'clock.respond': 'response',
  'clock.reply': 'answer',
  'staff.taken': '{staff} took case {caseNo}.',
  'staff.takenPrivate': 'You took case {caseNo}. Customer phone: {phone}{address}',
  'staff.closed': '{staff} closed case {caseNo}.',
  'staff.replied': 'Your answer was sent to the customer of case {caseNo}.',
  'staff.notStaff': 'You are not on this team and cannot act on this case. The attempt has been logged.',
  'staff.notFound': 'Case {caseNo} was not found.',
  'staff.alreadyTaken': 'Case {caseNo} was already taken by {staff}.',
  'staff.alreadyClosed': 'Case {caseNo} is already closed.',
  'staff.notTaken': 'Nobody has taken case {caseNo} yet; take it first.',
  'staff.unboundGroup': 'This group is not bound to a team; the bot does not dispatch cases here.',
  'staff.usage':
    'Team commands:\ntake <case>\nreply <case> <text> (answer the customer)\nclose <case>\ncase <case> (show)',
  'staff.unknownCommand': 'Unknown command.',
  'staff.replyEmpty': 'Write the answer to the customer after the case number.',
  'manager.only': 'Only managers can ask for statistics.',
  'manager.stats':
    'Today ({date}):\nnew cases {created}\nwaiting {open}\nin progress {taken}\nclosed {closed}\noverdue {overdue}',
  'customer.taken': 'Your case {caseNo} has been taken by {staff}.',
  'customer.reply': 'Answer on case {caseNo}:\n{text}',
  'customer.closed': 'Your case {caseNo} is closed. Thank you for your patience!',
  'deadline.missed': '⚠️ Case {caseNo}: the {clock} deadline ({due}) has passed; please act now.',
  'deadline.escalated':
    '⚠️ Escalation: case {caseNo} is {late} past its {clock} deadline; assignee: {assignee}.',
  nobody: 'nobody',
  'duration.minutes': '{n} min',
  'duration.hours': '{h} h {m} min',
  'duration.days': '{d} d {h} h',
};

export type Lang = 'zh' | 'en';
export type TextParams = Record<string, string | number>;
export type Translate = (lang: Lang, key: TextKey, params?: TextParams) => string;

/** Builds the translator, with the company's overrides layered on the catalogue. */
export function createTranslator(overrides: Partial<Record<Lang, Record<string, string>>> = {}): Translate {
  const tables: Record<Lang, Record<string, string>> = {
    zh: { ...zh, ...overrides.zh },
    en: { ...en, ...overrides.en },
  };
  return (lang, key, params = {}) => {
    const template = tables[lang][key] ?? tables.zh[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
      name in params ? String(params[name]) : whole,
    );
  };
}

/** Every key, for tests that check both languages are complete. */
export const catalogueKeys = Object.keys(zh) as TextKey[];
