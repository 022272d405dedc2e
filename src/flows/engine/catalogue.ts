import { statsTexts } from '../stats/stats-texts.ts';

/**
 * Every text the bot says, zh-CN first with English beside it. Flows refer to keys; the policy
 * may override any text per company. `{name}` placeholders are filled by `translate`.
 */
const zhCore = {
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
    '班组命令：\n接单 <工单号>\n到达 <工单号>\n完成 <工单号>（报修登记原因、过程、结果）\n回复 <工单号> <内容>（答复客户）\n联系客户 <工单号> <问题>\n备注 <工单号> <内容>\n转派 <工单号> <班组或员工>\n原因 <工单号> <超时原因>\n办结 <工单号>\n工单 <工单号>（查看）',
  'staff.unknownCommand': '无法识别的命令。',
  'staff.replyEmpty': '请在工单号后写上要答复客户的内容。',
  'manager.only': '只有管理人员可以使用这个命令。',
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
  'menu.repair': '报修/报警',
  'menu.myCases': '我的工单',
  'repair.category': '请选择故障类别：',
  'repair.outOfScope': '很抱歉，「{category}」不在我公司维修范围内：{reason}\n{whereToGo}',
  'repair.address': '请输入故障地址（区、街道、小区、楼栋门牌号）：',
  'repair.useSaved': '使用：{value}',
  'repair.addressShort': '地址太短了，请写清楚区、街道、小区和门牌号。',
  'repair.addressLong': '地址太长了（最多 {max} 字），请只写地址。',
  'repair.phone': '请输入联系电话（手机或带区号的座机）：',
  'repair.description': '请简要描述故障情况：',
  'repair.photos': '如方便，请发送故障照片（可发多张），发完点「完成」；没有照片请点「跳过」。',
  'repair.photoReceived': '已收到 {n} 张照片。继续发送，或点「完成」。',
  'repair.photosDone': '完成',
  'repair.photosSkip': '跳过',
  'repair.time': '希望什么时间上门？可点选，或直接输入（如：明天下午 3 点）：',
  'repair.time.asap': '尽快',
  'repair.time.today': '今天',
  'repair.time.tomorrow': '明天',
  'repair.time.weekend': '周末',
  'repair.timeLong': '请简短写明时间（最多 50 字）。',
  'repair.confirm':
    '请确认报修信息：\n类别：{category}\n地址：{address}\n电话：{phone}\n描述：{description}\n照片：{photos} 张\n上门时间：{time}',
  'repair.opened':
    '报修已受理，工单号 {caseNo}。\n我们承诺：{confirm} 前与您联系确认上门时间，{handle} 前到场处理，{repair} 前修复。\n处理进度会在这里通知您；紧急情况请拨打 {hotline}。',
  'leak.opened': '已紧急通知抢修人员，工单号 {caseNo}。抢修电话 {emergencyHotline}（请到室外拨打）。',
  'leak.address': '请告诉我们泄漏地点的详细地址：',
  'leak.phone': '请留下能联系到您的电话（请到室外接听）：',
  'leak.done': '地址和电话已转给抢修人员（工单 {caseNo}）。请在室外安全处等候，抢修人员到达前请勿返回室内。',
  'leak.again': '您的报警（工单 {caseNo}）正在紧急处理中，抢修人员会尽快与您联系。',
  'case.card.kind.repair': '报修',
  'case.card.kind.leak': '🚨燃气泄漏·紧急',
  'case.card.area': '区域',
  'case.card.time': '上门时间',
  'case.card.photos': '照片',
  'case.state.arrived': '已到场',
  'case.state.cancelled': '已取消',
  'case.action.arrive': '到达',
  'case.action.resolve': '完成',
  'clock.ackP0': '接警响应',
  'clock.confirm': '确认',
  'clock.handle': '处置',
  'clock.repair': '修复',
  'staff.page': '🚨 燃气泄漏报警！工单 {caseNo}，请立即接单处置。',
  'staff.arrived': '{staff} 已到达现场：工单 {caseNo}。',
  'staff.alreadyArrived': '工单 {caseNo} 已记录到场。',
  'staff.resolve.cause': '工单 {caseNo} 完成登记：请填写故障原因：',
  'staff.resolve.process': '请填写处理过程：',
  'staff.resolve.result': '请填写处理结果：',
  'staff.resolve.firstTime': '是否一次修复？',
  'staff.resolve.yes': '是',
  'staff.resolve.no': '否',
  'staff.resolve.short': '请至少写 2 个字。',
  'staff.resolved': '{staff} 已完成工单 {caseNo}（一次修复：{firstTime}）。',
  'staff.transferred': '工单 {caseNo} 已由 {staff} 转派给 {target}。',
  'staff.transferUnknown': '找不到转派对象「{target}」：请写班组编号或名称，或本班组员工姓名。',
  'staff.transferUsage': '用法：转派 <工单号> <班组或员工>',
  'staff.noted': '已为工单 {caseNo} 添加备注。',
  'staff.noteEmpty': '请在工单号后写上备注内容。',
  'staff.asked': '已向工单 {caseNo} 的客户发送询问，客户回复后会转到这里。',
  'staff.askEmpty': '请在工单号后写上要问客户的问题。',
  'staff.customerAnswer': '工单 {caseNo} 客户回复：{text}',
  'staff.reasonSaved': '已记录工单 {caseNo} 的超时原因，并告知客户。',
  'staff.noBreach': '工单 {caseNo} 没有超时的时限。',
  'staff.reasonEmpty': '请在工单号后写上超时原因。',
  'customer.arrived': '工作人员 {staff} 已到达现场（工单 {caseNo}）。',
  'customer.resolved':
    '您的工单 {caseNo} 已处理完毕。\n故障原因：{cause}\n处理结果：{result}\n请为本次服务评分：',
  'customer.question': '关于工单 {caseNo}，工作人员想问您：\n{text}\n（请直接回复这条消息）',
  'customer.answerSent': '已将您的回复转给工作人员。',
  'customer.late':
    '抱歉，您的工单 {caseNo} 未能在承诺的 {due} 前完成{clock}，我们正在加紧处理，稍后会告知原因。',
  'customer.lateReason': '关于工单 {caseNo} 延误的说明：{reason}',
  'customer.transferred': '您的工单 {caseNo} 已转给{team}处理。',
  'rating.1': '非常不满意',
  'rating.2': '不满意',
  'rating.3': '一般',
  'rating.4': '满意',
  'rating.5': '非常满意',
  'rating.prompt': '请为工单 {caseNo} 的服务评分（回复编号）：',
  'rating.thanks': '感谢您的评价！',
  'rating.notYours': '这不是您的工单，无法评价。',
  'rating.already': '您已评价过工单 {caseNo}。',
  'rating.notClosed': '工单 {caseNo} 尚未办结，办结后再评价。',
  'relay.prompt': '请直接回复工作人员关于工单 {caseNo} 的问题：',
  'bind.codeGroup':
    '班组「{team}」的群绑定码：{code}（{hours} 小时内有效，只能用一次）。\n请在该班组的群里发送：/bind {code}',
  'bind.codeStaff':
    '员工「{staff}」的注册码：{code}（{hours} 小时内有效，只能用一次）。\n请他私聊机器人发送：/register {code}',
  'bind.unknownTeam': '没有编号或名称为「{team}」的班组。',
  'bind.unknownStaff': '没有编号或姓名为「{staff}」的员工。',
  'bind.usage': '用法：/bindcode <班组编号>，/staffcode <员工编号>',
  'bind.bound': '本群已绑定到班组「{team}」，新工单会发到这里。',
  'bind.moved': '本群已升级为超级群组，班组「{team}」的工单仍会发到这里。',
  'bind.registered': '您已注册为「{staff}」，可以在班组群里处理工单了。',
  'bind.invalid': '绑定码无效、已使用或已过期，请向管理人员重新获取。',
  'bind.groupOnly': '请在班组群里发送 /bind。',
  'bind.privateOnly': '请私聊机器人发送 /register。',
  'staff.callCustomer':
    '📞 给工单 {caseNo} 客户的消息无法送达（{reason}），请电话联系客户（接单后可见号码）。',
  'staff.callCustomerNoCase':
    '📞 有一条给客户的消息无法送达（{reason}），且客户没有未办结的工单，请在后台查看。',
  'myCases.none': '您目前没有工单。',
  'myCases.title': '您的工单：',
  'myCases.line': '· {caseNo} {kind}（{category}）：{state}',
  'myCases.due': '\n  {clock}时限 {time}',
  'myCases.notFound': '没有找到您的工单 {caseNo}。',
  'deadline.reminder': '⏰ 工单 {caseNo} 的{clock}时限将于 {due} 到期，请抓紧处理。',
  yes: '是',
  no: '否',
} as const;

// Each service process may keep its texts beside it; they all join this one catalogue here.
const zh = { ...zhCore, ...statsTexts.zh };

export type TextKey = keyof typeof zh;

const enCore: Record<keyof typeof zhCore, string> = {
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
  'manager.only': 'Only managers can use this command.',
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
  'menu.repair': 'Report a fault or leak',
  'menu.myCases': 'My cases',
  'repair.category': 'What kind of fault is it?',
  'repair.outOfScope': 'Sorry, "{category}" is not something we repair: {reason}\n{whereToGo}',
  'repair.address': 'Where is the fault? (district, street, estate, building and door number)',
  'repair.useSaved': 'Use: {value}',
  'repair.addressShort': 'That address is too short; please give district, street, estate and door number.',
  'repair.addressLong': 'That address is too long (at most {max} characters); please give the address only.',
  'repair.phone': 'Your contact phone (mobile, or landline with area code):',
  'repair.description': 'Please describe the fault briefly:',
  'repair.photos':
    'If you can, send photos of the fault (several are fine), then tap "Done"; tap "Skip" if you have none.',
  'repair.photoReceived': '{n} photo(s) received. Send more or tap "Done".',
  'repair.photosDone': 'Done',
  'repair.photosSkip': 'Skip',
  'repair.time': 'When would you like the visit? Tap one or type it (e.g. tomorrow 3 pm):',
  'repair.time.asap': 'As soon as possible',
  'repair.time.today': 'Today',
  'repair.time.tomorrow': 'Tomorrow',
  'repair.time.weekend': 'At the weekend',
  'repair.timeLong': 'Please give the time briefly (at most 50 characters).',
  'repair.confirm':
    'Please confirm:\nFault: {category}\nAddress: {address}\nPhone: {phone}\nDescription: {description}\nPhotos: {photos}\nVisit: {time}',
  'repair.opened':
    'Your report is registered as case {caseNo}.\nWe promise to call you to agree a visit before {confirm}, to be on site before {handle}, and to repair it before {repair}.\nUpdates will come here; in an emergency call {hotline}.',
  'leak.opened':
    'The emergency crew has been alerted, case {caseNo}. Emergency line {emergencyHotline} (call from outside).',
  'leak.address': 'Please tell us the exact address of the leak:',
  'leak.phone': 'A phone number we can reach you on (answer it outside):',
  'leak.done':
    'The address and phone have gone to the crew (case {caseNo}). Wait outside in a safe place and do not go back in before they arrive.',
  'leak.again': 'Your alarm (case {caseNo}) is being handled urgently; the crew will contact you shortly.',
  'case.card.kind.repair': 'Repair',
  'case.card.kind.leak': '🚨Gas leak · EMERGENCY',
  'case.card.area': 'Area',
  'case.card.time': 'Visit',
  'case.card.photos': 'Photos',
  'case.state.arrived': 'On site',
  'case.state.cancelled': 'Cancelled',
  'case.action.arrive': 'Arrived',
  'case.action.resolve': 'Done',
  'clock.ackP0': 'alarm response',
  'clock.confirm': 'confirmation',
  'clock.handle': 'on-site',
  'clock.repair': 'repair',
  'staff.page': '🚨 Gas leak alarm! Case {caseNo}: take it and act now.',
  'staff.arrived': '{staff} is on site: case {caseNo}.',
  'staff.alreadyArrived': 'Case {caseNo} is already marked on site.',
  'staff.resolve.cause': 'Closing case {caseNo}: what caused the fault?',
  'staff.resolve.process': 'What was done?',
  'staff.resolve.result': 'What is the result?',
  'staff.resolve.firstTime': 'Fixed the first time?',
  'staff.resolve.yes': 'Yes',
  'staff.resolve.no': 'No',
  'staff.resolve.short': 'Please write at least 2 characters.',
  'staff.resolved': '{staff} completed case {caseNo} (fixed first time: {firstTime}).',
  'staff.transferred': 'Case {caseNo} was transferred by {staff} to {target}.',
  'staff.transferUnknown':
    'No team or staff member "{target}": give a team id or name, or a team member\'s name.',
  'staff.transferUsage': 'Usage: transfer <case> <team or staff>',
  'staff.noted': 'Note added to case {caseNo}.',
  'staff.noteEmpty': 'Write the note after the case number.',
  'staff.asked': 'Your question went to the customer of case {caseNo}; the answer will be posted here.',
  'staff.askEmpty': 'Write the question after the case number.',
  'staff.customerAnswer': 'Customer of case {caseNo} answers: {text}',
  'staff.reasonSaved': 'The reason for the delay of case {caseNo} is recorded and the customer told.',
  'staff.noBreach': 'Case {caseNo} has no missed clock.',
  'staff.reasonEmpty': 'Write the reason after the case number.',
  'customer.arrived': '{staff} is on site (case {caseNo}).',
  'customer.resolved':
    'Your case {caseNo} is done.\nCause: {cause}\nResult: {result}\nPlease rate our service:',
  'customer.question': 'About case {caseNo}, our staff ask:\n{text}\n(just reply to this message)',
  'customer.answerSent': 'Your answer has been passed to our staff.',
  'customer.late':
    'Sorry, the {clock} on your case {caseNo} was not done by {due} as promised. We are on it and will tell you why.',
  'customer.lateReason': 'About the delay on case {caseNo}: {reason}',
  'customer.transferred': 'Your case {caseNo} has been passed to {team}.',
  'rating.1': 'Very dissatisfied',
  'rating.2': 'Dissatisfied',
  'rating.3': 'Neutral',
  'rating.4': 'Satisfied',
  'rating.5': 'Very satisfied',
  'rating.prompt': 'Please rate our service on case {caseNo} (reply with a number):',
  'rating.thanks': 'Thank you for your rating!',
  'rating.notYours': 'This is not your case; you cannot rate it.',
  'rating.already': 'You have already rated case {caseNo}.',
  'rating.notClosed': 'Case {caseNo} is not closed yet; rate it when it is.',
  'relay.prompt': "Please answer our staff's question about case {caseNo}:",
  'bind.codeGroup':
    'Group code for team "{team}": {code} (valid {hours} h, once).\nSend this in the team\'s group: /bind {code}',
  'bind.codeStaff':
    'Registration code for "{staff}": {code} (valid {hours} h, once).\nThey send this to the bot privately: /register {code}',
  'bind.unknownTeam': 'No team with id or name "{team}".',
  'bind.unknownStaff': 'No staff member with id or name "{staff}".',
  'bind.usage': 'Usage: /bindcode <team id>, /staffcode <staff id>',
  'bind.bound': 'This group is now bound to team "{team}"; new cases will arrive here.',
  'bind.moved': 'This group was upgraded to a supergroup; cases of team "{team}" still arrive here.',
  'bind.registered': 'You are registered as "{staff}" and can work cases in your team\'s group.',
  'bind.invalid': 'That code is invalid, used or expired; ask a manager for a new one.',
  'bind.groupOnly': "Send /bind in the team's group.",
  'bind.privateOnly': 'Send /register to the bot in a private chat.',
  'staff.callCustomer':
    '📞 A message to the customer of case {caseNo} cannot be delivered ({reason}); please phone the customer (number shown once taken).',
  'staff.callCustomerNoCase':
    '📞 A message to a customer cannot be delivered ({reason}) and they have no open case; please check the back office.',
  'myCases.none': 'You have no cases.',
  'myCases.title': 'Your cases:',
  'myCases.line': '· {caseNo} {kind} ({category}): {state}',
  'myCases.due': '\n  {clock} due {time}',
  'myCases.notFound': 'No case {caseNo} of yours was found.',
  'deadline.reminder': '⏰ Case {caseNo}: the {clock} is due at {due}; please hurry.',
  yes: 'yes',
  no: 'no',
};

const en: Record<TextKey, string> = { ...enCore, ...statsTexts.en };

export type Lang = 'zh' | 'en';
export type TextParams = Record<string, string | number>;
export type Translate = (lang: Lang, key: TextKey, params?: TextParams) => string;

/** Builds the translator, with the company's overrides layered on the catalogue. */
export function createTranslator(overrides: Partial<Record<Lang, Record<string, string>>> = {}): Translate {
  const tables: Record<Lang, Record<string, string>> = {
    zh: { ...zh, ...overrides.zh },
    en: { ...en, ...overrides.en },
  };
  // Each template is split into text and placeholders once, on first use.
  const compiled: Record<Lang, Map<string, (params: TextParams) => string>> = {
    zh: new Map(),
    en: new Map(),
  };
  return (lang, key, params = {}) => {
    let fill = compiled[lang].get(key);
    if (!fill) {
      fill = compile(tables[lang][key] ?? tables.zh[key] ?? key);
      compiled[lang].set(key, fill);
    }
    return fill(params);
  };
}

/** `{name}` placeholders filled from the params; one without a value stays as written. */
function compile(template: string): (params: TextParams) => string {
  // Split with a capture group: the odd items are the placeholders' names.
  const parts = template.split(/\{(\w+)\}/);
  if (parts.length === 1) return () => template;
  return (params) => {
    let out = parts[0]!;
    for (let i = 1; i < parts.length; i += 2) {
      const name = parts[i]!;
      out += (name in params ? String(params[name]) : `{${name}}`) + parts[i + 1]!;
    }
    return out;
  };
}

/** Every key, for tests that check both languages are complete. */
export const catalogueKeys = Object.keys(zh) as TextKey[];
