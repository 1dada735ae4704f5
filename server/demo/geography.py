"""Static data for the demo county 崇阳县 (Chongyang, Hubei) and small planar geometry helpers.

Town seats use approximate real coordinates; village centroids are placed a few kilometres around
their town seat (approximate, not surveyed). Names of people, enterprises and plates are made up.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from server.visits.models import TOPICS

COUNTY_NAME = "崇阳县"
COUNTY_CODE = "chongyang"
ID_AREA_CODE = "421223"  # 崇阳县 in resident ID numbers
PLATE_PREFIX = "鄂L"  # 咸宁市


@dataclass(frozen=True)
class VillageSpec:
    name: str
    slug: str
    east_km: float  # centroid offset from the town seat
    north_km: float
    radius_km: float  # typical distance of the boundary from the centroid
    households: int
    groups: int  # 村民小组


@dataclass(frozen=True)
class TownSpec:
    name: str
    slug: str
    lat: float
    lon: float
    villages: tuple[VillageSpec, ...]


TOWNS: tuple[TownSpec, ...] = (
    TownSpec(
        "天城镇",
        "tiancheng",
        29.5550,
        114.0400,
        (
            VillageSpec("大岭村", "daling", -3.2, 2.8, 1.20, 52, 7),
            VillageSpec("茅井村", "maojing", 3.6, 2.2, 1.10, 47, 6),
            VillageSpec("西庄村", "xizhuang", -3.4, -2.6, 1.30, 55, 8),
            VillageSpec("洪下村", "hongxia", 3.1, -3.0, 1.00, 46, 6),
        ),
    ),
    TownSpec(
        "白霓镇",
        "baini",
        29.6200,
        114.1000,
        (
            VillageSpec("大市村", "dashi", -2.8, 2.9, 1.10, 50, 7),
            VillageSpec("回头岭村", "huitouling", 3.4, 2.6, 1.40, 58, 9),
            VillageSpec("油市村", "youshi", -3.3, -2.4, 0.95, 44, 6),
            VillageSpec("石垅村", "shilong", 2.9, -3.1, 1.05, 49, 6),
        ),
    ),
    TownSpec(
        "沙坪镇",
        "shaping",
        29.4300,
        114.0000,
        (
            VillageSpec("湖塘村", "hutang", -3.0, 2.7, 1.20, 53, 8),
            VillageSpec("大竹村", "dazhu", 3.3, 2.4, 1.00, 45, 6),
            VillageSpec("寿安村", "shouan", -2.9, -3.2, 1.15, 51, 7),
            VillageSpec("云尖村", "yunjian", 3.5, -2.7, 1.10, 50, 7),
        ),
    ),
)

TRANSPORT_BUREAU = ("县交通运输局", "jiaotong")
SUPERVISION_BUREAU = ("县纪委监委", "jiwei")

# (username, display name) per town, in the order of TOWNS: four cadres and one leader each.
CADRES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("cadre01", "汪志刚"), ("cadre02", "沈丽华"), ("cadre03", "饶建军"), ("cadre04", "廖小燕")),
    (("cadre05", "庞国栋"), ("cadre06", "甘海燕"), ("cadre07", "王春林"), ("cadre08", "黄晓梅")),
    (("cadre09", "熊伟"), ("cadre10", "何静"), ("cadre11", "魏鹏程"), ("cadre12", "刘思琪")),
)
LEADERS: tuple[tuple[str, str], ...] = (
    ("leader01", "陈建华"),
    ("leader02", "周立新"),
    ("leader03", "吴德胜"),
)
SUPERVISOR = ("supervisor01", "邓正清")
ADMIN = ("admin", "系统管理员")


@dataclass(frozen=True)
class EnterpriseSpec:
    name: str
    industry: str
    is_key: bool = False
    is_transport: bool = False
    village: int | None = None  # index into the town's villages, else located in the town
    assigned: bool = True


# Ten per town, in the order of TOWNS.
ENTERPRISES: tuple[tuple[EnterpriseSpec, ...], ...] = (
    (
        EnterpriseSpec("崇阳县天城物流有限公司", "物流运输", is_key=True, is_transport=True),
        EnterpriseSpec("湖北隽水运输有限公司", "物流运输", is_key=True, is_transport=True),
        EnterpriseSpec("崇阳县通达货运有限公司", "物流运输", is_key=True, is_transport=True),
        EnterpriseSpec("崇阳县鄂南建材有限公司", "建材", is_key=True),
        EnterpriseSpec("崇阳县华鑫电子科技有限公司", "电子", is_key=True),
        EnterpriseSpec("崇阳县大岭茶叶专业合作社", "茶叶", village=0),
        EnterpriseSpec("崇阳县茅井竹木制品厂", "竹木", village=1),
        EnterpriseSpec("崇阳县西庄农产品加工有限公司", "农产品加工", village=2),
        EnterpriseSpec("崇阳县城东商砼有限公司", "建材"),
        EnterpriseSpec("崇阳县洪下生态养殖专业合作社", "农产品加工", village=3, assigned=False),
    ),
    (
        EnterpriseSpec("崇阳县白霓物流有限公司", "物流运输", is_key=True, is_transport=True),
        EnterpriseSpec("湖北回头岭茶业有限公司", "茶叶", is_key=True, village=1),
        EnterpriseSpec("崇阳县油市竹业有限公司", "竹木", village=2),
        EnterpriseSpec("崇阳县白霓运输有限公司", "物流运输", is_key=True, is_transport=True),
        EnterpriseSpec("崇阳县华越冷链物流有限公司", "物流运输", is_key=True, is_transport=True),
        EnterpriseSpec("崇阳县大市砖瓦厂", "建材", village=0),
        EnterpriseSpec("崇阳县白霓电子元件有限公司", "电子", is_key=True),
        EnterpriseSpec("崇阳县石垅米业有限公司", "农产品加工", village=3),
        EnterpriseSpec("崇阳县白霓茶旅文化发展有限公司", "茶叶"),
        EnterpriseSpec("崇阳县金霓机械加工厂", "机械加工", assigned=False),
    ),
    (
        EnterpriseSpec("崇阳县沙坪货运有限公司", "物流运输", is_key=True, is_transport=True),
        EnterpriseSpec("崇阳县国道物流有限公司", "物流运输", is_key=True, is_transport=True),
        EnterpriseSpec("崇阳县沙坪钒业有限公司", "矿产", is_key=True),
        EnterpriseSpec("崇阳县沙坪石材有限公司", "建材"),
        EnterpriseSpec("崇阳县大竹竹制品有限公司", "竹木", village=1),
        EnterpriseSpec("崇阳县寿安荸荠专业合作社", "农产品加工", village=2),
        EnterpriseSpec("崇阳县湖塘优质稻专业合作社", "农产品加工", village=0),
        EnterpriseSpec("崇阳县云尖林业专业合作社", "竹木", village=3),
        EnterpriseSpec("崇阳县沙坪工艺扇厂", "工艺品"),
        EnterpriseSpec("崇阳县沙坪花炮有限公司", "花炮"),
    ),
)

# Five truck drivers per town (they live there; the unit is the transport bureau).
DRIVERS: tuple[tuple[str, ...], ...] = (
    ("汪细军", "沈长青", "饶友明", "廖新华", "金小龙"),
    ("庞细毛", "甘德兵", "王金山", "黄建平", "柯志勇"),
    ("熊冬生", "何春桥", "魏红兵", "刘国强", "傅永红"),
)

# (name, town index, east_km, north_km) — one per town, each linked to that town's leader.
PROJECTS: tuple[tuple[str, int, float, float], ...] = (
    ("崇阳县城区污水管网改造工程", 0, 0.6, -0.3),
    ("白霓镇茶旅融合发展项目", 1, 1.5, 0.8),
    ("106国道崇阳段改扩建工程", 2, 0.9, 1.4),
)

# Surnames common in 崇阳 and south-east Hubei; each village leans on one or two of them.
SURNAMES = (
    "汪",
    "沈",
    "饶",
    "庞",
    "廖",
    "甘",
    "王",
    "黄",
    "刘",
    "陈",
    "张",
    "李",
    "周",
    "吴",
    "熊",
    "何",
    "魏",
    "胡",
    "程",
    "邓",
    "金",
    "傅",
    "柯",
    "葛",
    "杜",
    "宋",
    "丁",
    "骆",
    "万",
    "朱",
)
MALE_CHARS = (
    (
        "国",
        "建",
        "志",
        "春",
        "金",
        "德",
        "明",
        "海",
        "新",
        "光",
        "文",
        "学",
        "仁",
        "长",
        "细",
        "冬",
        "永",
        "正",
    ),
    (
        "华",
        "平",
        "林",
        "生",
        "明",
        "清",
        "荣",
        "福",
        "强",
        "军",
        "成",
        "安",
        "良",
        "山",
        "兵",
        "水",
        "泉",
        "松",
    ),
)
FEMALE_CHARS = (
    ("桂", "秀", "春", "金", "玉", "美", "冬", "细", "银", "小", "丽", "月", "爱", "素"),
    ("兰", "英", "珍", "芳", "香", "娥", "梅", "菊", "花", "莲", "霞", "凤", "云", "琴"),
)
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "158",
    "159",
    "180",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
)
CN_NUMERALS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二")

_TOPIC_PHRASES = (
    ("了解家庭收入和务工情况", "询问今年家庭主要收入来源", "核实家庭年收入变化情况"),
    ("查看水稻和茶园长势，询问春耕备耕准备", "了解油茶、楠竹种植管护情况", "讲解农资补贴申领办法"),
    ("登记外出务工人员去向", "推介县内企业招工岗位", "宣传技能培训报名政策"),
    ("宣传城乡居民医保缴费政策", "询问家中老人慢性病用药情况", "提醒家庭医生签约随访"),
    ("了解子女上学和资助政策享受情况", "询问留守儿童学习生活情况", "宣传雨露计划助学政策"),
    ("查看房屋结构和用电安全", "排查房屋后山切坡隐患", "了解危房改造进度"),
    ("了解邻里关系，排查矛盾纠纷", "调解宅基地界址纠纷", "劝导双方理性协商"),
    ("提醒冬季用火用电安全", "宣传防溺水和道路交通安全", "检查液化气使用安全"),
    ("看望留守老人，了解生活起居", "询问留守妇女就业意愿", "叮嘱监护人关注留守儿童安全"),
    ("核实低保、养老金等惠民补贴发放情况", "宣传耕地地力保护补贴政策", "讲解临时救助申请条件"),
    ("查看房前屋后环境卫生", "宣传垃圾分类和厕所改造", "动员参与村庄清洁行动"),
    ("了解企业生产经营和用工情况", "询问企业融资和用地难题", "宣传惠企纾困政策"),
)
TOPIC_PHRASES: dict[str, tuple[str, ...]] = dict(zip(TOPICS, _TOPIC_PHRASES, strict=True))
NOTE_OPENINGS = ("入户与{name}交谈，", "与{name}及家人拉家常，", "在{name}家门口座谈，", "走访{name}家，", "")
NOTE_CLOSINGS = (
    "群众对帮扶工作表示满意。",
    "已记录相关情况，下次走访时回访。",
    "户主表示将积极配合。",
    "留下联系电话，有事随时联系。",
    "家庭情况稳定，无新增困难。",
    "提醒家人有困难及时向村委会反映。",
)
CONCERN_CLOSING = "群众反映的诉求已登记，将按程序交办。"
ENTERPRISE_NOTES = (
    "到企业现场了解生产经营和用工情况，检查安全生产台账。",
    "与企业负责人座谈，了解运输车辆和驾驶员管理情况，提醒落实安全生产主体责任。",
    "现场查看厂区消防设施，宣传惠企政策，企业反映暂无困难。",
)

CONCERN_TEXTS: dict[str, tuple[str, ...]] = {
    "problem": (
        "{group}通组公路约200米路段破损，雨天积水，群众出行不便。",
        "房屋后山有切坡滑坡隐患，请求排查。",
        "自来水水压不足，用水高峰时段经常停水。",
        "{group}路灯损坏多日未修。",
        "灌溉渠道淤塞，影响田间放水。",
    ),
    "request": (
        "家中老人患慢性病，希望帮助办理门诊慢特病认定。",
        "因病致贫，希望申请临时救助。",
        "孩子考上大学，咨询生源地助学贷款办理手续。",
        "希望村里组织茶叶种植技术培训。",
        "申请农村危房改造补助。",
        "希望帮助推荐县城附近的务工岗位。",
    ),
    "petition": (
        "与邻居因宅基地界址发生纠纷，多次协商未果。",
        "反映土地流转租金未按合同按时支付。",
        "反映与相邻组的山林权属争议。",
    ),
    "suggestion": (
        "建议在村部增设快递代收点。",
        "建议组织农产品线上销售，帮助解决茶叶销路。",
        "建议增加村卫生室坐诊时间。",
        "建议在{group}增设垃圾收集点。",
    ),
}


# --- geometry (local planar approximation, good to a few metres over a few kilometres) ---


def offset(lat: float, lon: float, east_km: float, north_km: float) -> tuple[float, float]:
    """The point ``east_km``/``north_km`` away from (lat, lon)."""
    return (
        lat + north_km / 110.574,
        lon + east_km / (111.320 * math.cos(math.radians(lat))),
    )


def irregular_ring(rng: random.Random, lat: float, lon: float, radius_km: float) -> list[tuple[float, float]]:
    """A closed, star-shaped ring of 8–12 [lon, lat] vertices around (lat, lon)."""
    n = rng.randint(8, 12)
    step = 2 * math.pi / n
    ring: list[tuple[float, float]] = []
    for i in range(n):
        angle = i * step + rng.uniform(-0.3, 0.3) * step
        r = radius_km * rng.uniform(0.75, 1.2)
        vlat, vlon = offset(lat, lon, r * math.cos(angle), r * math.sin(angle))
        ring.append((round(vlon, 6), round(vlat, 6)))
    ring.append(ring[0])
    return ring


def scaled_ring(
    ring: list[tuple[float, float]], lat: float, lon: float, factor: float
) -> list[tuple[float, float]]:
    """The ring shrunk towards (lat, lon); for a star-shaped ring it lies inside the original."""
    return [(lon + (x - lon) * factor, lat + (y - lat) * factor) for x, y in ring]


def inside(lon: float, lat: float, ring: list[tuple[float, float]]) -> bool:
    """Ray casting: is the point strictly inside the closed ring?"""
    result = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            result = not result
    return result


def random_point_in(
    rng: random.Random,
    ring: list[tuple[float, float]],
    lat: float,
    lon: float,
    factor: float,
    near: tuple[float, float] | None = None,
    sigma_km: float = 0.0,
) -> tuple[float, float]:
    """A random (lat, lon) inside ``ring`` shrunk by ``factor`` (around ``near`` if given), rounded."""
    inner = scaled_ring(ring, lat, lon, factor)
    xs, ys = [p[0] for p in inner], [p[1] for p in inner]
    for _ in range(200):
        if near:
            plat, plon = offset(*near, rng.gauss(0, sigma_km), rng.gauss(0, sigma_km))
        else:
            plon, plat = rng.uniform(min(xs), max(xs)), rng.uniform(min(ys), max(ys))
        plat, plon = round(plat, 6), round(plon, 6)
        if inside(plon, plat, inner) and inside(plon, plat, ring):
            return plat, plon
    return near if near else (lat, lon)


def id_check_digit(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a resident ID number."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights, strict=True)) % 11]
