-- The benchmark's rules for imapfilter: the same work as bench/rules/*.yaml.
-- MAILSIFT_BENCH_PORT / _USER / _PASSWORD are set by bench/compare.ts.
options.timeout = 60
options.create = true
options.info = false

local account = IMAP {
  server = '127.0.0.1',
  port = tonumber(os.getenv('MAILSIFT_BENCH_PORT')),
  username = os.getenv('MAILSIFT_BENCH_USER'),
  password = os.getenv('MAILSIFT_BENCH_PASSWORD'),
  ssl = 'auto',
}

local invoices = account.INBOX:contain_from('billing@') * account.INBOX:contain_subject('invoice')
invoices:add_flags({ '$Invoice' })
invoices:move_messages(account['Finance/Invoices'])

local alerts = account.INBOX:contain_from('monitoring@') * account.INBOX:contain_subject('[ALERT]') * account.INBOX:is_unseen()
alerts:mark_flagged()

local newsletters = account.INBOX:contain_field('List-Unsubscribe', '') * account.INBOX:is_older(30)
newsletters:move_messages(account.Trash)
