"""演示历史: the fixed facts of the history — who acts, the dates it keeps to, and the words
and weights its cases, measures and lists are drawn from."""

from decimal import Decimal
from pathlib import Path

from accounts.choices import Role
from interventions.reference import HAIDONG_HOUSEHOLDS_PER_MEASURE

SEED = 630121
COUNTY = "630121000000"
PROVINCE = "630000000000"
# The history's cases were all found at least this many days ago: the demo's current cases
# (monitor/demo.py) are younger, so the two can be told apart.
NEWEST_FINDING_DAYS = 41
SCAN = b"%PDF-1.4\n% demo consent scan (history)\n"
FEED_SAMPLE = Path(__file__).resolve().parents[2] / "households/fixtures/demo/warnings_medical.csv"

# Accounts for the villages and the township the demo users do not cover (they sign in
# nowhere: no password, inactive).
HISTORY_USERS = [
    ("cun_xiguan", "西关村 村干部", Role.VILLAGE_CADRE, "630121100202"),
    ("cun_nanmen", "南门村 村干部", Role.VILLAGE_CADRE, "630121100203"),
    ("cun_xinzhuang", "新庄村 村干部", Role.VILLAGE_CADRE, "630121101202"),
    ("cun_yuanshu", "元树村 村干部", Role.VILLAGE_CADRE, "630121101203"),
    ("zhen_chengguan", "城关镇 审核人", Role.TOWNSHIP_REVIEWER, "630121101000"),
]
DEMO_ACTORS = ["cun_dongguan", "cun_xiangyang", "zhen_qiaotou", "xian_datong"]

# Illustrative (演示数据), like the demo's own lines: findings of December 2024 need one.
LINE_2024 = Decimal("7200")

HAIDONG = HAIDONG_HOUSEHOLDS_PER_MEASURE
DEVELOPMENTAL = ("industry", "employment", "finance", "public_job")
# category → (texts, responsible department, amount range in yuan, days it runs or None)
MEASURES = {
    "industry": (
        ["发展肉牛养殖，落实到户产业奖补", "种植马铃薯、油菜，落实产业奖补", "发展藏系羊养殖"],
        "县农业农村局",
        (3000, 8000),
        300,
    ),
    "employment": (
        ["劳务输出，落实外出务工交通补贴", "参加电焊工技能培训并推荐就业", "在县内帮扶车间就业"],
        "县人力资源和社会保障局",
        (500, 3000),
        180,
    ),
    "finance": (["脱贫人口小额信贷，财政全额贴息"], "县农商银行", (30000, 50000), 1095),
    "public_job": (
        ["设置村级公益性岗位（保洁员）", "生态护林员岗位"],
        "县乡村振兴局",
        (6000, 9600),
        365,
    ),
    "housing": (["农村危房改造", "灾后住房修缮补助"], "县住房和城乡建设局", (15000, 40000), 120),
    "water": (["入户自来水管网改造"], "县水利局", (800, 2000), 45),
    "health": (
        [
            "大病专项救治、医疗救助",
            "慢性病家庭医生签约，门诊慢特病报销",
            "基本医保、大病保险、医疗救助三重保障",
        ],
        "县医疗保障局",
        (2000, 15000),
        90,
    ),
    "compulsory_edu": (["义务教育控辍保学、营养改善计划"], "县教育局", (500, 1500), 300),
    "education": (["雨露计划职业教育补助", "高校新生入学资助"], "县教育局", (3000, 5000), 300),
    "social_security": (
        ["纳入农村低保", "纳入特困供养", "残疾人两项补贴"],
        "县民政局",
        (3000, 8000),
        None,
    ),
    "social_aid": (["东西部协作结对企业捐助", "慈善总会临时救助"], "县慈善总会", (1000, 3000), 30),
    "infrastructure": (["入户道路硬化", "庭院及巷道改造"], "乡镇人民政府", (5000, 15000), 90),
}
RISK_TEXT = {
    "01": [
        "户主患大病住院，医疗自付支出大",
        "家庭成员患慢性病，长期服药",
        "配偶确诊重病，需长期治疗",
    ],
    "03": ["家庭成员残疾，无法正常劳动", "主要劳动力因伤致残"],
    "04": ["家中缺少劳动力，收入来源单一"],
    "05": ["家庭成员遭遇交通事故，医疗费用高", "务工时受伤，暂时无法劳动"],
    "06": ["养殖项目因疫病亏损", "种植合作社经营失败，投入无法收回"],
    "07": ["务工企业停工，家庭收入骤减", "外出务工被拖欠工资"],
    "09": ["子女就读大学，教育支出大", "两个子女同时上高中，教育支出大"],
    "0201": ["暴雨洪涝冲毁农田和圈舍"],
    "0202": ["山体滑坡损毁住房"],
    "0203": ["干旱致农作物大幅减产"],
    "0205": ["冰雹灾害致农作物绝收"],
}
# Main risks other than illness and disability, weighted (illness and disability are taken
# where the household has a sick or disabled member).
OTHER_RISKS = {"05": 3, "07": 3, "06": 2, "09": 2, "0201": 1, "0203": 1, "0205": 1, "0202": 1}
NOT_ELIGIBLE_NOTES = [
    "入户核实：医疗费用已由基本医保、大病保险和医疗救助报销，家庭收入稳定，不符合纳入条件",
    "入户核实：家庭人均纯收入明显高于监测范围，无返贫致贫风险",
    "入户核实：患者已康复，家庭有稳定务工收入，不符合纳入条件",
]
VISIT_FINDINGS = [
    "家庭情况稳定，帮扶措施按计划落实",
    "户主务工收入稳定，家中无新增困难",
    "患病成员按时复诊，医疗费用已报销",
    "产业发展正常，收入较上月增加",
]


SURNAMES = "王李张刘陈杨赵黄周吴马祁鲁韩冶"
GIVEN = [
    "建国",
    "秀英",
    "海林",
    "玉兰",
    "德明",
    "桂花",
    "永福",
    "春梅",
    "成林",
    "翠英",
    "占福",
    "生秀",
]
