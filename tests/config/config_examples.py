"""Example configs shared by the config tests."""

FULL = """\
[site]
name = "blog"
description = "The company blog"
rpo = "12h"
console_url = "https://backups.example.com/"
timezone = "Asia/Shanghai"

[[sources]]
name = "db"
type = "sqlite"
path = "instance/blog.db"

[[sources]]
name = "uploads"
type = "files"
path = "uploads"
exclude = ["*.tmp", "cache/"]
one_file_system = true

[[sources]]
name = "main"
type = "postgres"
url = "postgresql+psycopg://postgres@127.0.0.1:5432/blog"
password = { env = "PGPASSWORD" }

[[sources]]
name = "shop"
type = "mysql"
url = "mariadb://root@127.0.0.1:3306/shop"
password = { file = "secrets/mysql" }

[[repositories]]
name = "local"
url = "backups"
password = { env = "SITESNAP_PASSWORD" }
quota = "500GB"

[[repositories]]
name = "oss"
url = "s3://bucket/blog"
password = { file = "/etc/sitesnap/oss-password" }
append_only = true
copy_after_backup = false
limit_upload = "10MiB/s"
limit_download = "1.5MiB/s"

[repositories.s3]
preset = "aliyun-oss"
region = "oss-cn-hangzhou"
endpoint = "https://oss-cn-hangzhou.aliyuncs.com"
addressing_style = "virtual"
access_key_id = { env = "OSS_ACCESS_KEY_ID" }
secret_access_key = { env = "OSS_ACCESS_KEY_SECRET" }
object_lock = { mode = "compliance", days = 30 }

[[repositories]]
name = "offsite"
url = "sftp://backup@10.0.0.2/srv/backups/blog"

[repositories.sftp]
key_file = "~/.ssh/id_ed25519"
known_hosts = "known_hosts"

[schedule]
incremental = "0 */4 * * *"
drill = "off"
read_data_subset = "10%"

[retention]
full = "6 months"
snapshot = "forever"
"pre-restore" = "2 weeks"
keep_daily = 7
keep_weekly = 4
keep_monthly = -1
keep_within = "2d"
keep_tags = ["release", "a,b"]

[alerts]
consecutive_failures = 3
storage_percent = 90
duration_factor = 2.5
disabled = ["slow_backup"]

[[alerts.channels]]
name = "ops-mail"
type = "email"
host = "smtp.example.com"
port = 465
security = "ssl"
username = "backup"
password = { env = "SMTP_PASSWORD" }
from = "backup@example.com"
to = ["ops@example.com", "boss@example.com"]

[[alerts.channels]]
type = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=abc"
secret = { env = "DINGTALK_SECRET" }
min_severity = "critical"
sites = ["blog"]

[[alerts.channels]]
type = "webhook"
url = "https://hooks.example.com/sitesnap"
headers = { Authorization = "Bearer x" }

[runtime]
broker = "redis://127.0.0.1:6379/0"

[web]
host = "0.0.0.0"
port = 9000
secret_key = { file = "secrets/web" }
tls_cert = "tls/cert.pem"
tls_key = "tls/key.pem"
public_metrics = true
behind_proxy = true
"""
