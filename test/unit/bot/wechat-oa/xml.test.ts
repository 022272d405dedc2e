import { describe, expect, it } from 'vitest';
import {
  buildXml,
  cdata,
  MAX_XML_BYTES,
  parseWeChatXml,
  parseXmlUnchecked,
  XmlRejected,
} from '../../../../src/bot/wechat/official-account/xml.ts';

const TEXT_PUSH = `<xml>
  <ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>
  <FromUserName><![CDATA[oUser_123-abc]]></FromUserName>
  <CreateTime>1795430000</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[a &amp; b <c>]]></Content>
  <MsgId>24000000000000000123</MsgId>
</xml>`;

const LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE xml [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><Content>&lol9;</Content><Lol>&lol;</Lol></xml>`;

const XXE = `<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Content>&xxe;</Content></xml>`;

describe('parsing a push', () => {
  it('reads the fields as text: CDATA as written, a 20-digit MsgId not rounded', () => {
    expect(parseWeChatXml(TEXT_PUSH)).toEqual({
      ToUserName: 'gh_0123456789ab',
      FromUserName: 'oUser_123-abc',
      CreateTime: '1795430000',
      MsgType: 'text',
      Content: 'a &amp; b <c>',
      MsgId: '24000000000000000123',
    });
  });

  it('decodes only the predefined entities and character references outside CDATA', () => {
    const f = parseWeChatXml('<xml><A>x &amp; &lt;y&gt; &#20320;&#x597D; &nbsp; &foo;</A><B></B></xml>');
    expect(f).toEqual({ A: 'x & <y> 你好 &nbsp; &foo;', B: '' });
  });

  it('flattens nested tags (event details) as A.B', () => {
    const f = parseWeChatXml(
      '<xml><MsgType>event</MsgType><SendLocationInfo><Location_X>30.1</Location_X><Label><![CDATA[杭州]]></Label></SendLocationInfo></xml>',
    );
    expect(f).toMatchObject({ 'SendLocationInfo.Location_X': '30.1', 'SendLocationInfo.Label': '杭州' });
  });

  it('refuses any DOCTYPE or ENTITY declaration', () => {
    expect(() => parseWeChatXml(LAUGHS)).toThrow(XmlRejected);
    expect(() => parseWeChatXml(XXE)).toThrow(XmlRejected);
    expect(() => parseWeChatXml('<!doctype xml><xml><A>1</A></xml>')).toThrow(XmlRejected);
  });

  it('the parser itself expands no entity, even when handed a DOCTYPE (defence in depth)', () => {
    const started = Date.now();
    const doc = parseXmlUnchecked(LAUGHS) as { xml: { Content: string; Lol: string } };
    expect(doc.xml.Content).toBe('&lol9;');
    expect(doc.xml.Lol).toBe('&lol;');
    expect(Date.now() - started).toBeLessThan(500);
    let content: string | undefined;
    try {
      content = (parseXmlUnchecked(XXE) as { xml: { Content: string } }).xml.Content;
    } catch {
      content = undefined; // refusing external entities outright is fine too
    }
    if (content !== undefined) expect(content).toBe('&xxe;');
  });

  it('refuses what is not a WeChat push', () => {
    for (const bad of [
      '',
      'success',
      '{"a":1}',
      '<xml><A>unclosed</xml>',
      '<root><A>1</A></root>',
      '<xml><__proto__>1</__proto__></xml>',
      `<xml><A>${'x'.repeat(MAX_XML_BYTES)}</A></xml>`,
      `${'<a>'.repeat(50)}${'</a>'.repeat(50)}`,
    ])
      expect(() => parseWeChatXml(bad), bad.slice(0, 40)).toThrow(XmlRejected);
  });
});

describe('building a reply', () => {
  it('strings in CDATA, numbers bare, in the given order', () => {
    expect(buildXml({ ToUserName: 'o1', CreateTime: 1795430000, Content: '你好' })).toBe(
      '<xml><ToUserName><![CDATA[o1]]></ToUserName><CreateTime>1795430000</CreateTime><Content><![CDATA[你好]]></Content></xml>',
    );
  });

  it('text containing ]]> or control characters survives a round trip', () => {
    const text = 'a]]>b\u0001c\n第二行 <tag> & ]]]]>';
    expect(cdata('x]]>y')).toBe('<![CDATA[x]]]]><![CDATA[>y]]>');
    expect(parseWeChatXml(buildXml({ Content: text })).Content).toBe(text.replace('\u0001', ''));
  });
});
