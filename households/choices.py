"""Coded values of the registry. Codes are English slugs; labels are what cadres read."""

from django.db import models


class RegionLevel(models.IntegerChoices):
    PROVINCE = 1, "省"
    CITY = 2, "市"
    COUNTY = 3, "县"
    TOWNSHIP = 4, "乡镇"
    VILLAGE = 5, "村"


# Digits of the 12-digit statistical code that identify a region at each level: a region's
# code prefix of this length is shared by everything beneath it.
PREFIX_LENGTH = {
    RegionLevel.PROVINCE: 2,
    RegionLevel.CITY: 4,
    RegionLevel.COUNTY: 6,
    RegionLevel.TOWNSHIP: 9,
    RegionLevel.VILLAGE: 12,
}


class HouseholdKind(models.TextChoices):
    LIFTED = "lifted", "脱贫户"
    ORDINARY = "ordinary", "一般农户"


class CivilAffairsStatus(models.TextChoices):
    """民政低收入人口类别 (carried since the 2026 policy joins both monitoring systems)."""

    NONE = "", "无"
    DIBAO = "dibao", "低保"
    TEKUN = "tekun", "特困供养"
    DIBAO_EDGE = "dibao_edge", "低保边缘"
    RIGID_EXPENSE = "rigid_expense", "刚性支出困难"


class LifeStatus(models.TextChoices):
    """成员状态: in the household register, or gone from it (with a date and evidence)."""

    IN_REGISTER = "in_register", "在册"
    DECEASED = "deceased", "死亡"
    MOVED_OUT = "moved_out", "户籍迁出"


class FileColour(models.TextChoices):
    GREY = "grey", "灰色（已销户）"
    GREEN = "green", "绿色（一般农户）"
    BLUE = "blue", "蓝色（脱贫户）"
    RED = "red", "红色（监测对象）"


class Relation(models.TextChoices):
    HEAD = "head", "户主"
    SPOUSE = "spouse", "配偶"
    CHILD = "child", "子女"
    PARENT = "parent", "父母"
    GRANDCHILD = "grandchild", "孙子女"
    SIBLING = "sibling", "兄弟姐妹"
    CHILD_IN_LAW = "child_in_law", "儿媳/女婿"
    GRANDPARENT = "grandparent", "祖父母"
    OTHER = "other", "其他"


class Health(models.TextChoices):
    HEALTHY = "healthy", "健康"
    CHRONIC = "chronic", "长期慢性病"
    SERIOUS = "serious", "患有大病"
    DISABLED = "disabled", "残疾"


class DisabilityLevel(models.IntegerChoices):
    LEVEL_1 = 1, "一级"
    LEVEL_2 = 2, "二级"
    LEVEL_3 = 3, "三级"
    LEVEL_4 = 4, "四级"


class Labour(models.TextChoices):
    ORDINARY = "ordinary", "普通劳动力"
    SKILLED = "skilled", "技能劳动力"
    WEAK = "weak", "弱劳动力或半劳动力"
    LOST = "lost", "丧失劳动力"
    NONE = "none", "无劳动力"


# Members in these labour classes count as able to work (consistency rules and clearance).
ABLE_TO_WORK = frozenset({Labour.ORDINARY, Labour.SKILLED, Labour.WEAK})


class Schooling(models.TextChoices):
    NOT_APPLICABLE = "", "非在校生"
    PRESCHOOL = "preschool", "学龄前儿童"
    COMPULSORY = "compulsory", "义务教育在校"
    HIGH_SCHOOL = "high_school", "高中（含中职）在校"
    UNIVERSITY = "university", "大学（含高职）在校"
    DROPOUT = "dropout", "失学辍学"


class WorkStatus(models.TextChoices):
    NONE = "", "未务工"
    LOCAL = "local", "县内务工"
    IN_PROVINCE = "in_province", "省内县外务工"
    OUT_OF_PROVINCE = "out_of_province", "省外务工"
